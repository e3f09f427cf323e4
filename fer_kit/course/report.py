"""The outcome of a course chain run and its pages: ``summary.json`` and ``index.html``.

A :class:`ChainReport` holds one :class:`NotebookRun` per notebook (status ``ok``, ``failed``
or ``skipped``, seconds, the executed copy, the error). :func:`write_summary` writes it as
``summary.json`` and as an ``index.html`` that lists every chapter with the results it
recorded (read with :func:`fer_kit.course.results.load_results`, long values shortened) and
the PNG figures it saved.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fer_kit.atomic import write_text_atomic
from fer_kit.course.results import load_results
from fer_kit.errors import InputFileError


@dataclass
class NotebookRun:
    """What happened to one notebook of the chain."""

    notebook: str
    status: str  # "ok", "failed" or "skipped"
    seconds: float = 0.0
    executed: str = ""
    output_dir: str = ""
    error: str = ""
    cell: int | None = None


@dataclass
class ChainReport:
    """The chain's outcome: one :class:`NotebookRun` per notebook, the index page, the total time."""

    out: str
    runs: list[NotebookRun] = field(default_factory=list)
    index_html: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(run.status == "ok" for run in self.runs)

    def to_dict(self) -> dict:
        return {"out": self.out, "ok": self.ok, "seconds": round(self.seconds, 1),
                "index_html": self.index_html, "runs": [asdict(run) for run in self.runs]}


def _scalars(results: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten results to (key, short value) rows for the index page; long lists are summarised."""
    rows: list[tuple[str, Any]] = []
    for key in sorted(results):
        value = results[key]
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and len(value) <= 12 and not prefix:
            rows.extend(_scalars(value, prefix=f"{name}."))
        elif isinstance(value, float):
            rows.append((name, f"{value:.4g}"))
        elif isinstance(value, (list, Mapping)):
            text = json.dumps(value)
            rows.append((name, text if len(text) <= 80 else f"{text[:77]}..."))
        else:
            rows.append((name, value))
    return rows


def write_summary(report: ChainReport) -> Path:
    """Write ``summary.json`` and ``index.html`` for ``report`` into its ``out`` folder; return the page."""
    out = Path(report.out)
    report.index_html = str(out / "index.html")
    write_text_atomic(out / "summary.json", json.dumps(report.to_dict(), indent=2))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>fer-kit course run</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
        ".ok{color:#080}.failed{color:#b00}.skipped{color:#888}img{max-width:48%;margin:4px;border:1px solid #ddd}"
        "pre{background:#fee;padding:.5em;white-space:pre-wrap}</style></head><body>",
        "<h1>fer-kit course run</h1>",
        f"<p>{len([r for r in report.runs if r.status == 'ok'])} of {len(report.runs)} notebooks ran, "
        f"{report.seconds:.0f} s in total.</p>",
        "<table><tr><th>notebook</th><th>status</th><th>seconds</th></tr>",
    ]
    for run in report.runs:
        parts.append(f"<tr><td><a href='#{run.notebook}'>{html.escape(run.notebook)}</a></td>"
                     f"<td class='{run.status}'>{run.status}</td><td>{run.seconds:.1f}</td></tr>")
    parts.append("</table>")
    for run in report.runs:
        parts.append(f"<h2 id='{run.notebook}'>{html.escape(run.notebook)} "
                     f"<small class='{run.status}'>{run.status}</small></h2>")
        if run.status != "skipped" and Path(run.executed).is_file():
            parts.append(f"<p>Executed notebook: <a href='{Path(run.executed).name}'>{Path(run.executed).name}</a></p>")
        if run.error:
            parts.append(f"<pre>{html.escape(run.error)}</pre>")
        output_dir = Path(run.output_dir) if run.output_dir else None
        if output_dir is None or not output_dir.is_dir():
            continue
        try:
            results = load_results(output_dir)
        except InputFileError as error:
            results = {"results.json": str(error)}
        if results:
            parts.append("<table><tr><th>result</th><th>value</th></tr>")
            parts.extend(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                         for k, v in _scalars(results))
            parts.append("</table>")
        for png in sorted(output_dir.glob("*.png")):
            rel = png.relative_to(out).as_posix()
            parts.append(f"<a href='{rel}'><img src='{rel}' alt='{html.escape(png.stem)}' "
                         f"title='{html.escape(png.stem)}'></a>")
    parts.append("</body></html>")
    page = out / "index.html"
    write_text_atomic(page, "\n".join(parts))
    return page
