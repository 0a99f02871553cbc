"""What we keep of a request nobody has vouched for yet must be bounded: an unsigned ECPay post or supplier
callback is stored as evidence, but a 2 MB field or ten thousand keys must not become a 2 MB row."""

from __future__ import annotations

from typing import Any

MAX_TEXT = 1000  # characters kept of one string (ECPay's longest field is a few hundred)
MAX_ITEMS = 100  # entries kept of one object or list
MAX_DEPTH = 8
MAX_DOCUMENT = 16_000  # characters of strings kept in the whole document


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[{len(text) - limit} more characters]"


def bounded(value: Any, *, max_text: int = MAX_TEXT, max_document: int = MAX_DOCUMENT) -> Any:
    """`value` (JSON-like) with its strings clipped, its objects and lists cut to MAX_ITEMS entries, nesting
    cut at MAX_DEPTH, and at most `max_document` characters of strings in all; small documents come back equal."""
    budget = [max_document]

    def cut(v: Any, depth: int) -> Any:
        if isinstance(v, str):
            kept = clip(v, max(0, min(max_text, budget[0])))
            budget[0] -= min(len(v), max_text)
            return kept
        if isinstance(v, dict | list | tuple) and depth >= MAX_DEPTH:
            return f"…[{type(v).__name__} nested too deep]"
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for i, (k, item) in enumerate(v.items()):
                if i >= MAX_ITEMS or budget[0] <= 0:
                    out["…"] = f"{len(v) - i} more entries"
                    break
                out[cut(str(k), depth + 1)] = cut(item, depth + 1)
            return out
        if isinstance(v, list | tuple):
            items: list[Any] = []
            for i, item in enumerate(v):
                if i >= MAX_ITEMS or budget[0] <= 0:
                    items.append(f"…{len(v) - i} more entries")
                    break
                items.append(cut(item, depth + 1))
            return items
        return v

    return cut(value, 0)
