"""Studies: many simulator runs described by one YAML, fanned out on Dask, cached, tabulated and plotted.

``simulator.study.run(spec, ...)`` returns the results table (one dict per point, the columns of
results.csv) and writes the output folder; ``python -m simulator study`` is a thin layer over it.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from models.errors import UserError
from models.package_data import output_root
from simulator.config import CONFIG_DIR
from simulator.study.spec import StudySpec, builtin_studies, load_spec, parse_spec

STUDIES_DIR = output_root() / "studies"

__all__ = ["run", "execute", "load_spec", "parse_spec", "builtin_studies", "default_out_dir", "StudySpec"]


def default_out_dir(spec: StudySpec) -> Path:
    return STUDIES_DIR / (spec.name + ("-quick" if spec.quick else ""))


def _as_spec(spec, quick: bool) -> StudySpec:
    if isinstance(spec, StudySpec):
        return spec
    if isinstance(spec, dict):
        return parse_spec(spec, "<study>", Path.cwd(), quick)
    return load_spec(spec, quick)


def execute(spec: StudySpec | str | Path | dict, *, quick: bool = False, out: str | Path | None = None,
            scheduler: str | None = None, workers: int | None = None, progress: bool = False,
            console=None, command: str | None = None) -> dict:
    """Run (or resume, or re-render) a study; returns everything its reports show: ``rows``,
    ``columns`` (tabulated), ``claims``, ``plots`` (paths), ``out``, ``cached``, ``seconds``."""
    from simulator.study import claims, dispatch, pareto, plots, points, report, table

    t0 = time.perf_counter()
    spec = _as_spec(spec, quick)
    out_dir = Path(out) if out else default_out_dir(spec)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: exists and is not a folder")
    pts = points.expand(spec)
    base_of = table.baseline_index(spec, pts)
    out_dir.mkdir(parents=True, exist_ok=True)
    replay_cached = 0
    with dispatch.Cluster(scheduler, workers, spec.replay is not None) as cluster:
        outcomes = dispatch.compute(pts, out_dir, progress=progress, console=console, cluster=cluster)
        rows = table.build_rows(spec, pts, outcomes)
        pareto.mark(spec.pareto, rows)  # fronts of simulated columns choose the points a replay may take
        if spec.replay is not None:
            from simulator.study.replay import run_replays

            replay_cached = run_replays(spec, pts, outcomes, rows, out_dir, cluster, progress=progress, console=console)
            pareto.mark(spec.pareto, rows)
    table.write_csv(rows, out_dir / "results.csv")
    plot_dir = out_dir / "plots"
    written = plots.render_plots(spec.plots, rows, plot_dir)
    written += [plot_dir / f"pareto_{f.name}.png" for f in spec.pareto
                if pareto.render(f, rows, plot_dir / f"pareto_{f.name}.png")]
    for stale in set(plot_dir.glob("*.png")) - set(written):
        stale.unlink()
    ratio_cols = [c for c in rows[0] if "_ratio_vs_" in c] if rows else []
    study = {"name": spec.name, "quick": spec.quick, "description": spec.description, "rows": rows,
             "columns": list(spec.columns) or report.default_columns(rows, ratio_cols),
             "claims": claims.CLAIM_SETS[spec.claims](rows, base_of) if spec.claims else [],
             "pareto": spec.pareto, "plots": written, "out": out_dir, "version": points.version_tag(),
             "cached": sum(1 for p in pts if outcomes[p.key].get("cached")), "replay_cached": replay_cached,
             "command": command or _command(spec, out)}
    report.write_summary(study, out_dir / "summary.md")
    report.write_html(study, out_dir / "index.html")
    study["seconds"] = time.perf_counter() - t0
    return study


def _command(spec: StudySpec, out) -> str:
    name = spec.name if Path(spec.source).resolve().parent == (CONFIG_DIR / "studies").resolve() else spec.source
    parts = ["python", "-m", "simulator", "study", name] + (["--quick"] if spec.quick else [])
    return shlex.join(parts + (["--out", str(out)] if out else []))


def run(spec: StudySpec | str | Path | dict, *, quick: bool = False, out: str | Path | None = None,
        scheduler: str | None = None, workers: int | None = None, progress: bool = False) -> list[dict]:
    """The results table of a study (a built-in name, a study YAML path, a study mapping or a
    `StudySpec`): one dict per point with the columns of results.csv. Outputs go to ``out``
    (default ``traces/studies/<name>``, ``<name>-quick`` with ``quick``)."""
    return execute(spec, quick=quick, out=out, scheduler=scheduler, workers=workers, progress=progress)["rows"]
