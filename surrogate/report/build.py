"""``report.md`` + PNG plots + ``results.csv`` from a results folder (see docs/benchmarks.md)."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surrogate.bench.store import COLUMNS
from surrogate.errors import InputError
from surrogate.report.data import Campaign, load_campaign
from surrogate.report.perf_md import write_perf_report
from surrogate.report.plots import anytime, cactus, scatter, scatter_files
from surrogate.report.tables import (
    family_table,
    higher_table,
    markdown_table,
    pairs,
    portfolio_table,
    sentinel_s,
    shares,
    sooner_table,
    summary_table,
)

__all__ = ["ReportFiles", "flat_rows", "write_csv", "write_report"]

#: Record entries left out of results.csv (long vectors and traces; they stay in the store).
_CSV_SKIP = {"trace", "best_x", "best_y_dense", "counterexample_x", "counterexample_y"}
MAX_ERRORS_LISTED = 20
_PROBLEM_KEYS = {
    "robustness": ("kind", "norm", "eps", "eps_uniform", "balls", "target", "centres", "images",
                   "stop_on_success"),
    "maximize": ("kind", "outputs", "minimize", "lower", "upper"),
    "build": ("kind", "lower", "upper", "repeats"),
}


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    csv: Path
    figures: list[Path] = field(default_factory=list)


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> ReportFiles:
    """Write ``report.md``, the plots and ``results.csv`` for the store in ``run_dir``."""
    campaign = load_campaign(run_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    if out.exists() and not out.is_dir():
        raise InputError(f"report folder {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(campaign, out / "results.csv")
    figures: list[Path] = []
    sections = [_head(campaign)]
    ok = campaign.ok_runs()
    if campaign.kind == "build" or any(r.pipeline != "ours" for r in campaign.runs):
        write_perf_report(run_dir, out)
        sections.append("## Pipelines side by side\n\nOurs against stock OMLT (and the other "
                         "pipelines of the campaign): [perf.md](perf.md), figures in perf.json.")
    if ok and campaign.kind != "build":  # a build campaign's report is perf.md
        headers, rows = summary_table(campaign)
        sections.append("## Summary per configuration\n\n" + markdown_table(headers, rows))
        if campaign.kind == "instances":
            fh, fr = family_table(campaign)
            sections.append(
                "## Per family\n\nA `sat` comes with a counterexample checked in float64 and by "
                "onnxruntime; `conflicts` counts instances also answered the other way by "
                "another run (a wrong answer; `surrogate bench check-record` cross-checks the "
                "`unsat` answers with the soundness record).\n\n" + markdown_table(fh, fr))
        figures.append(cactus(campaign, out / "cactus.png"))
        sections.append(_cactus_text(campaign))
        sc = scatter_files(campaign, out)
        for method, f in sc.items():
            figures.append(scatter(campaign, method, f))
        if sc:
            sections.append(_scatter_text(campaign, sc))
        if campaign.kind == "verification":
            sections.append(_section(
                "Sooner to a dense adversarial than the dense MILP",
                "Every configuration against the dense run of the same network, instance and seed "
                "(the paper's Task 1 metric); `auto (METHOD)` is the sparsity the automatic rule "
                "(`surrogate.app.sparsity`) picks from the unstable-neuron counts known before "
                "solving.", sooner_table(campaign)))
        if campaign.kind == "maximization":
            sections.append(_section(
                "Higher than the dense MILP",
                "Every configuration against the dense run of the same network, instance and "
                "seed by the best dense value at the limit (the paper's Task 2 metric; signs: "
                "the problem's direction); `auto (METHOD)` as in Task 1.", higher_table(campaign)))
        if campaign.kind == "maximization" and any(
                r.config == "strategy:portfolio" for r in campaign.runs):
            sections.append(_section(
                "The portfolio against its parts",
                "Best dense value per instance (from each run's anytime trace); every "
                "configuration ran with the same limit.", portfolio_table(campaign)))
        if campaign.kind == "maximization":
            figures.append(anytime(campaign, out / "anytime.png"))
            sections.append(
                "## Anytime curves\n\nBest dense objective found so far against time "
                "(log scale), one panel per instance (first 12), one line per run.\n\n"
                "![anytime](anytime.png)"
            )
    elif not ok:
        sections.append("No finished run without error yet: nothing to plot.")
    sections.append(_errors_text(campaign))
    md = out / "report.md"
    md.write_text("\n\n".join(s for s in sections if s) + "\n")
    return ReportFiles(md, csv_path, figures)


def _section(title: str, intro: str, table: tuple[list[str], list[list[str]], list[str]]
             ) -> str:
    """A report section: title, intro, the table's notes as a list, the table."""
    headers, rows, notes = table
    bullets = "".join(f"- {x}\n" for x in notes)
    return (f"## {title}\n\n{intro}\n\n" + (bullets + "\n" if bullets else "")
            + markdown_table(headers, rows))


def _head(c: Campaign) -> str:
    n_err = sum(not r.ok for r in c.runs)
    limits = sorted({r.time_limit_s for r in c.runs})
    spec_kind = c.spec.get("kind", "?")
    lines = [
        f"# Benchmark report: {c.name}",
        "",
        f"- results: `{c.path}` ({len(c.runs)} stored runs, {n_err} with errors)",
        f"- campaign: {spec_kind} ({c.kind} runs)",
        f"- time limit per run: {', '.join(f'{t:g}' for t in limits) or '-'} s",
    ]
    if spec_kind == "sweep" and isinstance(c.spec.get("problem"), dict):
        prob = dict(c.spec["problem"])
        keep = _PROBLEM_KEYS.get(str(prob.get("kind")), tuple(prob))
        prob = {k: prob[k] for k in keep if k in prob}
        uniform = prob.pop("eps_uniform", None)
        if uniform:  # one radius per image drawn from U(a, b)
            prob["eps"] = f"U({float(uniform[0]):g}, {float(uniform[1]):g}) per image"
        centres = prob.pop("centres", None)
        if centres:  # the images' folder, as its benchmark names it (not this machine's path)
            prob["centres"] = "/".join(Path(str(centres)).parts[-2:])
        balls = prob.pop("balls", None)
        if balls:  # eps given per norm
            prob.pop("norm", None)
            prob["eps"] = ", ".join(f"{n} {float(e):g}" for n, e in balls)
        lines.append(f"- problem: {_problem_text(prob)}")
        lines.append(f"- bounds: {c.spec.get('bounds', '-')}")
    return "\n".join(lines)


def _problem_value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return ", ".join(_problem_value(x) for x in v) or "-"
    return str(v)


def _problem_text(prob: dict[str, object]) -> str:
    """``robustness; norm l1; eps 2; target top2; images 0, 2`` (not a Python dict)."""
    parts = [str(prob.get("kind", "?"))]
    parts += [f"{k.replace('_', ' ')} {_problem_value(v)}" for k, v in prob.items() if k != "kind"]
    return "; ".join(parts)


def _cactus_text(c: Campaign) -> str:
    what = {
        "verification": "a run solves its instance when an incumbent is a **dense** adversarial "
        "(its time includes pruning, bounds and model build)",
        "instances": "a run solves its instance with a checked `sat` or `unsat` answer "
        "(time: the verifier's wall time)",
        "maximization": "a run solves its instance when its best dense objective reaches the best "
        "value any run found on that instance (relative tolerance 1e-6)",
    }.get(c.kind, "")
    return (
        "## Solved vs time\n\nFor each configuration, the number of instances solved within "
        f"a time budget: {what}. Further left and higher is better.\n\n![cactus](cactus.png)"
    )


def _scatter_text(c: Campaign, files: dict[str, Path]) -> str:
    objective = c.kind == "maximization"
    sent = sentinel_s(c)
    if objective:
        intro = (
            "Each point is one instance (network, problem, seed): the best dense objective "
            "of the dense MILP (x) against the pruned MILP's best dense objective (y), one "
            "panel per sparsity. For maximisation, points above the diagonal favour pruning."
        )
        cols = ["method", "sparsity", "pairs", "pruned better", "dense better", "tie"]
    else:
        intro = (
            "Each point is one instance (network, problem, seed): the dense MILP's time to "
            "solve (x) against the pruned MILP's (y), log-log, one panel per sparsity. Points "
            "below the diagonal: the pruned surrogate was faster. Unsolved runs sit at the "
            f"sentinel {sent:g} s (the time limit), drawn hollow on the dashed lines; a pair "
            "with both runs unsolved is a tie."
        )
        cols = ["method", "sparsity", "pairs", "pruned faster", "dense faster", "tie"]
    rows = []
    for (m, p), prs in pairs(c).items():
        sh = shares(prs, objective=objective, sentinel=sent)
        rows.append(
            [
                m,
                f"{p:g}",
                str(sh.n),
                f"{sh.pruned_better} ({sh.pct(sh.pruned_better)})",
                f"{sh.dense_better} ({sh.pct(sh.dense_better)})",
                f"{sh.ties} ({sh.pct(sh.ties)})",
            ]
        )
    imgs = "\n\n".join(f"![dense vs {m}]({f.name})" for m, f in files.items())
    return f"## Pruned vs dense\n\n{intro}\n\n{markdown_table(cols, rows)}\n\n{imgs}"


def _errors_text(c: Campaign) -> str:
    bad = [r for r in c.runs if not r.ok]
    if not bad:
        return "## Errors\n\nNone."
    rows = [[r.key, r.error or ""] for r in bad[:MAX_ERRORS_LISTED]]
    more = (
        f"\n\n({len(bad) - MAX_ERRORS_LISTED} more in results.csv)"
        if len(bad) > MAX_ERRORS_LISTED
        else ""
    )
    return (
        f"## Errors\n\n{len(bad)} task(s) ended with an error (rerun with `surrogate bench run "
        f"... --retry-errors`):\n\n" + markdown_table(["task", "error"], rows) + more
    )


# ------------------------------------------------------------------------------------ CSV
def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if not prefix and k in _CSV_SKIP:
            continue
        if isinstance(v, dict):
            out.update(_flatten(v, name + "."))
        elif isinstance(v, list | tuple):
            continue
        else:
            out[name] = v
    return out


def flat_rows(campaign: Campaign) -> tuple[list[str], list[dict[str, Any]]]:
    """One flat dict per run: the store's columns, then the record's scalars (``a.b`` for nested
    entries; vectors and traces left out). Returns the column names and the rows."""
    base = [c for c in COLUMNS if c != "record"]
    rows: list[dict[str, Any]] = []
    extra: dict[str, None] = {}
    for r in campaign.runs:
        row = {c: getattr(r, c) for c in base}
        flat = _flatten(r.record)
        for k in flat:
            extra.setdefault(f"record.{k}", None)
        row.update({f"record.{k}": v for k, v in flat.items()})
        rows.append(row)
    return base + list(extra), rows


def write_csv(campaign: Campaign, path: Path) -> Path:
    """``results.csv``: one row per stored run (see :func:`flat_rows`)."""
    cols, rows = flat_rows(campaign)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, restval="")
        w.writeheader()
        for row in rows:
            w.writerow({k: "" if v is None else v for k, v in row.items()})
    return path
