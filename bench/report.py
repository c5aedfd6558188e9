"""The comparison table: printed as text, saved as Markdown and JSON under bench/results/."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.model import Measurement

RESULTS_DIR = Path(__file__).resolve().parent / "results"
BASELINE, CANDIDATE = "distribution", "dockyard"


@dataclass
class Row:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    values: dict[str, float | None] = field(default_factory=dict)
    detail: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """Greater than 1 when Dockyard is better, whichever direction the unit counts."""
        base, cand = self.values.get(BASELINE), self.values.get(CANDIDATE)
        if not base or not cand:
            return None
        return cand / base if self.higher_is_better else base / cand

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            BASELINE: self.values.get(BASELINE),
            CANDIDATE: self.values.get(CANDIDATE),
            "ratio": self.ratio,
            "detail": self.detail,
            "errors": self.errors,
        }


class Table:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.cpu: dict[str, dict[str, dict[str, float]]] = {}

    def add(self, server: str, measurement: Measurement) -> None:
        m = measurement
        row = self.rows.setdefault(m.key, Row(m.key, m.label, m.unit, m.higher_is_better))
        row.values[server] = m.value
        if m.detail:
            row.detail[server] = m.detail

    def fail(self, server: str, scenario: str, message: str) -> None:
        row = self.rows.setdefault(
            f"error.{scenario}", Row(f"error.{scenario}", f"{scenario} (failed)", "", True)
        )
        row.errors[server] = message


def fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _notes(row: Row) -> str:
    if row.errors:
        return "; ".join(f"{server}: {message}" for server, message in row.errors.items())
    keys = sorted({k for d in row.detail.values() for k in d})
    parts = []
    for key in keys:
        base = row.detail.get(BASELINE, {}).get(key)
        cand = row.detail.get(CANDIDATE, {}).get(key)
        parts.append(f"{key} {fmt(base)} / {fmt(cand)}")
    return "; ".join(parts)


def _cells(row: Row) -> list[str]:
    ratio = row.ratio
    return [
        row.label,
        row.unit + ("" if row.higher_is_better else " (lower better)"),
        fmt(row.values.get(BASELINE)),
        fmt(row.values.get(CANDIDATE)),
        "n/a" if ratio is None else f"{ratio:.2f}x",
        _notes(row),
    ]


def _header(labels: dict[str, str]) -> list[str]:
    return ["scenario", "unit", labels[BASELINE], labels[CANDIDATE], "ratio (>1: Dockyard better)", "notes"]


def text_table(table: Table, labels: dict[str, str]) -> str:
    lines = [_header(labels), *(_cells(row) for row in table.rows.values())]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    out = []
    for index, line in enumerate(lines):
        numeric = index > 0
        cells = [
            cell.rjust(width) if numeric and 2 <= col <= 4 else cell.ljust(width)
            for col, (cell, width) in enumerate(zip(line, widths, strict=False))
        ]
        out.append("  ".join([*cells, line[-1]]).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _cpu_lines(table: Table, labels: dict[str, str]) -> list[list[str]]:
    with_db = any("database" in got for per_server in table.cpu.values() for got in per_server.values())
    head = ["scenario (whole, setup included)"]
    for server in (BASELINE, CANDIDATE):
        head += [f"{labels[server]}: server CPU s", *(["DB CPU s"] if with_db else [])]
        head += ["requests", "client CPU s", "wall s"]
    lines = [head]
    for scenario, per_server in table.cpu.items():
        cells = [scenario]
        for server in (BASELINE, CANDIDATE):
            got = per_server.get(server, {})
            cells += [fmt(got.get("server")), *([fmt(got.get("database"))] if with_db else [])]
            cells += [fmt(got.get("requests")), fmt(got.get("client")), fmt(got.get("wall"))]
        lines.append(cells)
    return lines


def cpu_text(table: Table, labels: dict[str, str]) -> str:
    lines = _cpu_lines(table, labels)
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        for line in lines
    )


def markdown(table: Table, labels: dict[str, str], meta: dict[str, Any]) -> str:
    head = _header(labels)
    lines = ["# Dockyard vs Distribution", ""]
    lines += [f"- **{key}**: {value}" for key, value in meta.items()]
    lines += [
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---", "--:", "--:", "--:", "---"]) + "|",
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in table.rows.values()]
    cpu = _cpu_lines(table, labels)
    lines += ["", "## CPU seconds per scenario", "", "| " + " | ".join(cpu[0]) + " |"]
    lines += ["|---|" + "--:|" * (len(cpu[0]) - 1)]
    lines += ["| " + " | ".join(line) + " |" for line in cpu[1:]]
    return "\n".join(lines) + "\n"


def save(table: Table, labels: dict[str, str], meta: dict[str, Any], stem: str) -> tuple[Path, Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    md_path, json_path = RESULTS_DIR / f"{stem}.md", RESULTS_DIR / f"{stem}.json"
    md_path.write_text(markdown(table, labels, meta))
    rows = [row.as_json() for row in table.rows.values()]
    document = {"meta": meta, "labels": labels, "rows": rows, "cpu_seconds": table.cpu}
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    return md_path, json_path
