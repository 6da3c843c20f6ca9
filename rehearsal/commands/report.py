"""`rehearsal report RUN`, `report merge` and `report schema`; the files a run writes for its
report flags are reports/files.py's.

Every format is rendered from the ledger through the JSON document, so a report written at
the end of a run and one rendered later from the same run say the same thing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rehearsal.errors import UsageError
from rehearsal.reports.files import FORMATS, render, write_file


def main(
    run_id: str | None, paths: list[Path], fmt: str, output: Path | None, folder: Path | None
) -> int:
    """`rehearsal report`: a stored run (`report`), the JSON Schema (`schema`), or shards'
    files combined (`merge OUT IN...`)."""
    if run_id == "schema":
        return schema(output)
    if run_id == "merge":
        from rehearsal.reports.merge import merge

        return merge(paths[0], paths[1:]) if paths else merge(Path("-"), [])
    return report(run_id, fmt, output, folder)


def report(run_id: str | None, fmt: str, output: Path | None, folder: Path | None) -> int:
    """Render a stored run (the latest without RUN) to stdout or `output`."""
    from rehearsal.commands.ledger import find_run, open_store

    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
    store = open_store(folder)
    try:
        text = render(store, find_run(store, run_id)["id"], fmt)
    finally:
        store.close()
    if output is None:
        sys.stdout.write(text)
    else:
        write_file(output, text)
    return 0


def schema(output: Path | None) -> int:
    """Print (or write) the JSON Schema of the JSON report."""
    from rehearsal.reports.json_report import schema_text

    if output is None:
        sys.stdout.write(schema_text())
    else:
        write_file(output, schema_text())
    return 0
