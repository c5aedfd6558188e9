"""``python -m bench.compare RESULT.json ...``: Dockyard variants from several runs, side by side.

Each run has its own Distribution figure (the machine's noise shows there), so every cell is
``Dockyard value (ratio to that run's Distribution)``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.report import fmt


def _cell(row: dict[str, Any] | None) -> str:
    if row is None or row.get("dockyard") is None:
        return "n/a"
    ratio = row.get("ratio")
    return fmt(row["dockyard"]) + ("" if ratio is None else f" ({ratio:.2f}x)")


def compare(paths: list[Path]) -> str:
    runs = [json.loads(path.read_text()) for path in paths]
    keys: dict[str, str] = {}
    for run in runs:
        for row in run["rows"]:
            if not row["key"].startswith("error."):
                keys.setdefault(row["key"], f"{row['label']} [{row['unit']}]")
    head = ["scenario", "Distribution (first run)", *(run["labels"]["dockyard"] for run in runs)]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for key, label in keys.items():
        by_run = [{r["key"]: r for r in run["rows"]}.get(key) for run in runs]
        first = next((r for r in by_run if r is not None), None)
        base = "n/a" if first is None else fmt(first.get("distribution"))
        lines.append("| " + " | ".join([label, base, *(_cell(r) for r in by_run)]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("results", nargs="+", type=Path, help="JSON files written by python -m bench")
    print(compare(parser.parse_args().results))


if __name__ == "__main__":
    main()
