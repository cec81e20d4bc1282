"""Rows into ``benchmarks/RESULTS.md``: each benchmark owns one section with one results table."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def add_rows(section: str, header: str, rows: str, path: Path = RESULTS) -> None:
    """Append ``rows`` at the end of ``section``'s table, creating the section from ``header``
    (heading, text and table head) when absent; notes written below a table stay below it."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if section not in text:
        text = text.rstrip("\n") + "\n\n" + header
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(section))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("|---")) + 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    path.write_text("".join(lines[:end]) + rows + "".join(lines[end:]))
