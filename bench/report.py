"""Tables: printed with rich, and the same tables as Markdown for bench/RESULTS.md."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])


def verdict(measured: float, target: float, *, below: bool) -> str:
    """`below`: the target is an upper bound (latency, memory); else a lower bound (throughput)."""
    if measured != measured:  # NaN: nothing was measured
        return "not measured"
    ok = measured < target if below else measured >= target
    return "meets" if ok else "MISSES"


def show(section: Section) -> None:
    table = Table(title=section.title, title_justify="left")
    for c in section.columns:
        table.add_column(
            c, justify="right" if c in ("measured", "target", "median", "max", "p50", "p99", "n") else "left"
        )
    for row in section.rows:
        style = "bold red" if "MISSES" in row else None
        table.add_row(*row, style=style)
    console.print(table)


def markdown(sections: list[Section], header: str) -> str:
    out = [header, ""]
    for s in sections:
        out += [f"### {s.title}", "", "| " + " | ".join(s.columns) + " |", "|" + "---|" * len(s.columns)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in s.rows]
        out.append("")
    return "\n".join(out)
