"""The audit on a terminal: a rich table when stdout is one, plain lines elsewhere (CI).
Both show the same rows as the report; neither shows a secret."""

from __future__ import annotations

import sys
from typing import Any

MARK = {"passed": "✓", "failed": "✗", "not checkable": "-"}
STYLE = {"passed": "green", "failed": "red", "not checkable": "dim"}


def show(doc: dict[str, Any], *, plain: bool = False) -> None:
    head = (
        f"rehearsal audit {doc['kind']}: {doc['provider']} ({doc['environment']} mode) "
        f"{doc['target']}"
    )
    tail = f"{doc['verdict'].upper()} (exit {doc['exit_code']})"
    if plain or not sys.stdout.isatty():
        print(head)
        for p in doc["probes"]:
            print(
                f"{MARK[p['outcome']]} {p['outcome']}: {p['title']}: {p['detail']} "
                f"[{p['source']} {p['item_text']}]"
            )
        for f in doc["findings"]:
            where = f["commit"] or "working tree"
            print(f"  {f['file']}:{f['line']} ({where}): {f['kind']} {f['masked']}")
        print(tail, flush=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=head, title_justify="left")
    for column in ("", "check", "checklist item", "evidence"):
        table.add_column(column)
    for p in doc["probes"]:
        outcome = p["outcome"]
        table.add_row(
            f"[{STYLE[outcome]}]{MARK[outcome]} {outcome}[/]",
            p["title"],
            f"{p['item_text']}\n[dim]{p['source']}[/]",
            p["detail"],
        )
    console = Console()
    console.print(table)
    for f in doc["findings"]:
        where = f["commit"] or "working tree"
        console.print(f"  {f['file']}:{f['line']} ({where}): {f['kind']} {f['masked']}")
    console.print(f"[{STYLE[doc['verdict']]}]{tail}[/]")
