"""What we keep as evidence must be storable: PostgreSQL refuses NUL in text and jsonb.

A forged or broken request may carry NUL characters; we still keep it on record, with each NUL written as the
visible text `\\u0000`, so nothing a client sends can turn "store it as received" into a server error.
"""

from __future__ import annotations

from typing import Any

NUL = "\x00"
NUL_SHOWN = "\\u0000"


def storable(value: Any) -> Any:
    """`value` with every NUL in its strings (keys included) made visible text, recursively."""
    if isinstance(value, str):
        return value.replace(NUL, NUL_SHOWN) if NUL in value else value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
