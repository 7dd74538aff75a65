"""summary.md and a self-contained index.html (inline CSS, plots as base64 data URIs, no scripts, no
external fetches) from the results table, the claims and the plots."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from simulator.fileio import atomic_output

_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:.8em 0;
font-size:13px}th,td{border:1px solid #bbb;padding:3px 7px;text-align:right}th{background:#eee}
td.t,th.t{text-align:left}img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
.fail{color:#a00}code{background:#f4f4f4;padding:0 3px}"""


def fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def default_columns(rows: list[dict], ratio_cols: list[str]) -> list[str]:
    label_end = list(rows[0]).index("technology") + 1 if rows else 0
    return list(rows[0])[:label_end] + ["total_cycles", "energy_total_pj"] + ratio_cols if rows else []


def _md_table(header: list[str], body: list[list[str]]) -> str:
    def esc(s):
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in body]
    return "\n".join(lines)


def _html_table(header: list[str], body: list[list[str]], text_cols: set[int]) -> str:
    def cls(i):
        return ' class="t"' if i in text_cols else ""

    head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(header))
    rows = "".join("<tr>" + "".join(f"<td{cls(i)}>{html.escape(c)}</td>" for i, c in enumerate(r)) + "</tr>"
                   for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _by_variant(rows: list[dict]):
    """Ratio columns summarised per hardware variant (every label but the workload) across workloads:
    geometric mean, min and max."""
    ratio_cols = [c for c in (rows[0] if rows else ()) if "_ratio_vs_" in c]
    if not ratio_cols:
        return None
    labels = [k for k in list(rows[0])[:list(rows[0]).index("technology") + 1] if k not in ("workload", "config")]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if not r["error"] and all(r[c] != "" for c in ratio_cols):
            groups.setdefault(tuple(r[k] for k in labels), []).append(r)
    header = labels + ["workloads"] + [f"{c} (geomean, min-max)" for c in ratio_cols]
    body = []
    for key, grp in groups.items():
        cells = [fmt(v) for v in key] + [str(len(grp))]
        for c in ratio_cols:
            vals = [r[c] for r in grp]
            gm = math.exp(sum(math.log(v) for v in vals) / len(vals)) if all(v > 0 for v in vals) else float("nan")
            cells.append(f"{gm:.3g} ({min(vals):.3g}-{max(vals):.3g})")
        body.append(cells)
    return ("Ratios by hardware variant, across workloads", header, body, set(range(len(labels))))


def _sections(study: dict) -> list[tuple[str, list[str], list[list[str]], set[int]]]:
    rows, cols = study["rows"], study["columns"]
    ok = [r for r in rows if not r["error"]]
    text = {i for i, c in enumerate(cols) if any(isinstance(r.get(c), str) and r.get(c) for r in ok)}
    out = []
    variants = _by_variant(rows)
    if variants:
        out.append(variants)
    out.append(("Results", cols, [[fmt(r.get(c, "")) for c in cols] for r in ok], text))
    if study.get("pareto"):
        from simulator.study.pareto import sections

        labels = [k for k in list(rows[0])[:list(rows[0]).index("technology")] if k != "config"] if rows else []
        out += sections(study["pareto"], rows, labels, fmt)
    findings = [c["statement"] for c in study["claims"] if c.get("statement")]
    if findings:
        out.append(("Findings", ["finding"], [[f] for f in findings], {0}))
    if study["claims"]:
        keys = ["claim", "paper", "ours", "holds", "conditions"]
        out.append(("Claims of the paper against our results", keys,
                    [[c[k] for k in keys] for c in study["claims"]], {0, 3, 4}))
    failed = [r for r in rows if r["error"]]
    if failed:
        label_end = list(rows[0]).index("technology")
        labels = list(rows[0])[:label_end]
        out.append(("Failed points", labels + ["kind", "error"],
                    [[fmt(r[c]) for c in labels] + [r["error_kind"], r["error"]] for r in failed],
                    set(range(len(labels) + 2))))
    return out


def _facts(study: dict) -> list[str]:
    rows = study["rows"]
    failed = sum(1 for r in rows if r["error"])
    facts = [f"command: `{study['command']}`",
             f"points: {len(rows)} ({failed} failed, {study['cached']} from the cache)"]
    replayed = [r for r in rows if r.get("replayed") is True]
    if replayed:
        bad = sum(1 for r in replayed if r.get("replay_error"))
        facts.append(f"replayed points: {len(replayed)} ({bad} failed, {study.get('replay_cached', 0)} replay tasks "
                     "from the cache); accuracy: mean over seeds with a Student-t 95% interval, difference paired by seed")
    return facts + [f"simulator version: {study['version']}"]


def write_summary(study: dict, path: Path) -> None:
    parts = [f"# Study `{study['name']}`{' (quick)' if study['quick'] else ''}", ""]
    if study["description"]:
        parts += [study["description"], ""]
    parts += [f"- {f}" for f in _facts(study)] + [""]
    for title, header, body, _ in _sections(study):
        parts += [f"## {title}", "", _md_table(header, body), ""]
    if study["plots"]:
        parts += ["## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in study["plots"]] + [""]
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(parts))


def write_html(study: dict, path: Path) -> None:
    title = f"Study {study['name']}{' (quick)' if study['quick'] else ''}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    if study["description"]:
        parts.append(f"<p>{html.escape(study['description'])}</p>")
    parts.append("<ul>" + "".join(f"<li>{html.escape(f).replace('`', '')}</li>" for f in _facts(study)) + "</ul>")
    for name, header, body, text in _sections(study):
        parts += [f"<h2>{html.escape(name)}</h2>", _html_table(header, body, text)]
    if study["plots"]:
        parts.append("<h2>Plots</h2>")
        for p in study["plots"]:
            data = base64.b64encode(p.read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(p.stem)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{html.escape(p.stem)}</figcaption></figure>")
    parts.append("</body></html>")
    with atomic_output(path) as tmp:
        Path(tmp).write_text("\n".join(parts) + "\n")
