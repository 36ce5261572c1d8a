"""Side-by-side figures of a campaign run on several pipelines (``surrogate perf``,
docs/performance.md), computed from the stored rows only.

Pairs: a run of ``ours`` and a run of ``stock-omlt`` on the same (network, instance, seed) and the
same pruning configuration (``dense`` for the shipped perf suites). For each pair:

* verification (sweeps and instances.csv): the two answers (``sat``, ``unsat``, else none) and
  each pipeline's time to its answer -- the run's own time (``total_s`` of a run, ``wall_s`` of an
  instance): ours stops at its first dense counterexample or proof, the stock solve returns when
  HiGHS ends. ``agree`` / ``DISAGREE`` / ``only-ours`` / ``only-stock`` / ``neither``;
* maximisation: each pipeline's best dense objective; the stock pipeline's time to its final value
  (read from HiGHS's log: the earliest it could have known it) and ours to reach that value (ours
  never reaching it counts as the time limit);
* build tasks: the median build time of each pipeline, ours / stock and pruned / dense.

A soundness bug is an instance on which any two runs (any pipeline, any configuration) answer
``sat`` and ``unsat``: listed under ``bugs``. Stdlib only, like the rest of the report.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from surrogate.report.data import Campaign, Run, better, load_campaign, median
from surrogate.report.tables import pairs, sentinel_s, shares

__all__ = ["MACHINE_NAME", "perf_summary", "write_perf_json"]

STOCK = "stock-omlt"
ANSWERED = ("sat", "unsat")
#: Written by ``surrogate perf`` beside the store: one entry per session (command, machine).
MACHINE_NAME = "machine.json"

Group = tuple[str, str, int]


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return float(num) / float(den)


def _runs(c: Campaign, pipeline: str) -> dict[str, dict[Group, Run]]:
    """``{base config: {group: run}}`` of the successful runs of ``pipeline``."""
    out: dict[str, dict[Group, Run]] = defaultdict(dict)
    for r in c.ok_runs():
        if r.pipeline == pipeline:
            out[r.base_config][r.group] = r
    return out


def _row_head(g: Group) -> dict[str, Any]:
    return {"network": g[0], "instance": g[1], "seed": g[2]}


# ------------------------------------------------------------------------------ verification
def agreement(ours: str, stock: str) -> str:
    if ours in ANSWERED and stock in ANSWERED:
        return "agree" if ours == stock else "DISAGREE"
    return "only-ours" if ours in ANSWERED else ("only-stock" if stock in ANSWERED else "neither")


def _side(r: Run) -> dict[str, Any]:
    return {"answer": r.outcome, "time_s": r.elapsed_s, "cpu_s": r.record.get("task_cpu_s"),
            "config": r.config}


def verification_versus(ours: dict[Group, Run], stock: dict[Group, Run]) -> dict[str, Any]:
    """Answers and times to answer of ours against stock, per instance and in summary."""
    rows = []
    for g in sorted(ours.keys() & stock.keys()):
        o, s = ours[g], stock[g]
        rows.append({**_row_head(g), "ours": _side(o), "stock": _side(s),
                     "agreement": agreement(o.outcome, s.outcome),
                     "stock_over_ours": ratio(s.elapsed_s, o.elapsed_s)})

    def t(rs: list[dict[str, Any]], side: str, key: str = "time_s") -> float | None:
        return median(r[side][key] for r in rs if r[side][key] is not None)

    n = len(rows)
    ours_ok = [r for r in rows if r["ours"]["answer"] in ANSWERED]
    stock_ok = [r for r in rows if r["stock"]["answer"] in ANSWERED]
    same = [r for r in rows if r["agreement"] == "agree"]
    summary = {
        "instances": n,
        "ours_answered": len(ours_ok), "stock_answered": len(stock_ok),
        "agree": len(same), "disagree": sum(r["agreement"] == "DISAGREE" for r in rows),
        "ours_median_s": t(rows, "ours"), "stock_median_s": t(rows, "stock"),
        "stock_over_ours_median": ratio(t(rows, "stock"), t(rows, "ours")),
        "same_answer_ours_median_s": t(same, "ours"),
        "same_answer_stock_median_s": t(same, "stock"),
        "same_answer_stock_over_ours_median": ratio(t(same, "stock"), t(same, "ours")),
        "same_answer_median_of_ratios": median(r["stock_over_ours"] for r in same),
        # where ours answers: stock's time is its whole run when it did not answer (a lower
        # bound on its time to the answer, so this ratio understates the difference)
        "answered_by_ours_stock_over_ours_median": ratio(t(ours_ok, "stock"), t(ours_ok, "ours")),
        "ours_median_cpu_s": t(rows, "ours", "cpu_s"),
        "stock_median_cpu_s": t(rows, "stock", "cpu_s"),
        "stock_over_ours_median_cpu": ratio(t(rows, "stock", "cpu_s"), t(rows, "ours", "cpu_s")),
        "ours_answers": _count(r["ours"]["answer"] for r in rows),
        "stock_answers": _count(r["stock"]["answer"] for r in rows),
    }
    return {"summary": summary, "rows": rows}


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in items:
        out[str(v)] += 1
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------ maximisation
def time_to_reach(run: Run, value: float) -> float | None:
    """When ``run``'s best dense objective first reached ``value`` (relative tolerance)."""
    for t, v in run.anytime():
        if not better(value, v, run.maximize):
            return t
    return None


def maximization_versus(ours: dict[Group, Run], stock: dict[Group, Run]) -> dict[str, Any]:
    """Best dense objectives, and times to the stock pipeline's final value."""
    rows = []
    for g in sorted(ours.keys() & stock.keys()):
        o, s = ours[g], stock[g]
        target = s.objective
        row = {**_row_head(g),
               "ours": {"best": o.objective, "time_to_stock_value_s": None,
                        "status": o.record.get("status")},
               "stock": {"best": target, "time_to_final_s": s.record.get("best_dense_time_s"),
                         "status": s.record.get("status")},
               "time_limit_s": o.time_limit_s}
        if target is not None:
            row["ours"]["time_to_stock_value_s"] = time_to_reach(o, target)
            row["ours_minus_stock"] = None if o.objective is None else o.objective - target
        rows.append(row)
    with_stock = [r for r in rows if r["stock"]["best"] is not None]
    ours_t = [r["ours"]["time_to_stock_value_s"] or r["time_limit_s"] for r in with_stock]
    stock_t = [r["stock"]["time_to_final_s"] for r in with_stock]
    gains = []  # ours better than stock by this much (in the problem's sense), and the tolerance
    for r in with_stock:
        d = r.get("ours_minus_stock")
        if d is not None:
            sign = 1.0 if ours[(r["network"], r["instance"], r["seed"])].maximize else -1.0
            gains.append((sign * d, 1e-6 * max(1.0, abs(r["stock"]["best"]))))
    summary = {
        "instances": len(rows),
        "ours_with_incumbent": sum(r["ours"]["best"] is not None for r in rows),
        "stock_with_incumbent": len(with_stock),
        "ours_reached_stock_value": sum(r["ours"]["time_to_stock_value_s"] is not None
                                        for r in with_stock),
        "ours_better": sum(g > tol for g, tol in gains),
        "ours_worse": sum(g < -tol for g, tol in gains),
        "ours_median_s": median(ours_t), "stock_median_s": median(stock_t),
        "stock_over_ours_median": ratio(median(stock_t), median(ours_t)),
        "median_of_instance_ratios": median(
            ratio(s_, o_) for s_, o_ in zip(stock_t, ours_t, strict=True)),
        "median_ours_gain": median(g for g, _ in gains),
    }
    return {"summary": summary, "rows": rows}


# ------------------------------------------------------------------------------------ builds
def build_summary(c: Campaign) -> dict[str, Any]:
    """Per network: each configuration's median build time and size by pipeline; ours / stock
    per configuration and pruned / dense per pipeline."""
    nets: dict[str, dict[str, dict[str, dict[str, Any]]]] = defaultdict(lambda: defaultdict(dict))
    for r in c.ok_runs():
        rec = r.record
        nets[r.network][r.base_config][r.pipeline] = {
            "time_s": rec.get("total_s"), "bounds_s": rec.get("bounds_s"),
            "build_s": rec.get("build_s"), "size": rec.get("size"),
            "nonzeros": rec.get("nonzeros"), "times_s": rec.get("times_s")}
    out: dict[str, Any] = {}
    for net, configs in sorted(nets.items()):
        ratios: dict[str, Any] = {}
        for cfg, by in configs.items():
            stock = by.get(STOCK, {}).get("time_s")
            ratios[cfg] = {f"{p}/{STOCK}": ratio(v["time_s"], stock)
                           for p, v in sorted(by.items()) if p != STOCK}
            dense = configs.get("dense")
            if cfg != "dense" and dense:
                ratios[f"{cfg}/dense"] = {p: ratio(v["time_s"], dense.get(p, {}).get("time_s"))
                                          for p, v in sorted(by.items())}
        out[net] = {"configs": {k: dict(v) for k, v in configs.items()}, "ratios": ratios}
    return out


# ----------------------------------------------------------------------------------- presets
def preset_summary(c: Campaign) -> dict[str, Any] | None:
    """Our dense runs under each HiGHS preset (``ours`` = ``default``): answered, mean, median
    and shifted geometric mean (shift 1 s) of the run times; best = most answered, then lowest."""
    table: dict[str, dict[str, Any]] = {}
    for r in c.ok_runs():
        if r.sparsity != 0 or not (r.pipeline == "ours" or r.pipeline.startswith("highs:")):
            continue
        name = "default" if r.pipeline == "ours" else r.pipeline.split(":", 1)[1]
        e = table.setdefault(name, {"runs": 0, "answered": 0, "times": []})
        e["runs"] += 1
        e["answered"] += r.outcome in ANSWERED
        e["times"].append(r.elapsed_s)
    if len(table) < 2:
        return None
    for e in table.values():
        times = e.pop("times")
        e["mean_s"] = sum(times) / len(times)
        e["median_s"] = median(times)
        e["shifted_geomean_s"] = math.exp(sum(math.log(t + 1.0) for t in times) / len(times)) - 1
    ranking = sorted(table, key=lambda k: (-table[k]["answered"], table[k]["shifted_geomean_s"]))
    return {"presets": table, "ranking": ranking, "best": ranking[0]}


# ----------------------------------------------------------------------------------- summary
def soundness_bugs(c: Campaign) -> list[dict[str, Any]]:
    """Instances on which one run answers ``sat`` and another ``unsat``."""
    by: dict[Group, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in c.ok_runs():
        if r.outcome in ANSWERED:
            by[r.group][r.outcome].append(r.config)
    return [{**_row_head(g), "sat": a["sat"], "unsat": a["unsat"]}
            for g, a in sorted(by.items()) if a["sat"] and a["unsat"]]


def pruned_vs_dense(c: Campaign) -> dict[str, Any]:
    """Our pruned runs against our dense runs (see :mod:`surrogate.report.tables`)."""
    if c.kind not in ("verification", "instances", "maximization"):
        return {}
    objective = c.kind == "maximization"
    sent = sentinel_s(c)
    out = {}
    for (m, p), prs in pairs(c).items():
        sh = shares(prs, objective=objective, sentinel=sent)
        fill = (lambda v: v) if objective else (lambda v: sent if v is None else v)
        out[f"{m}@{p:g}"] = {
            "pairs": sh.n, "pruned_better": sh.pruned_better, "dense_better": sh.dense_better,
            "ties": sh.ties, "measure": "best dense objective" if objective else
            f"time to solve (s; unsolved at {sent:g})",
            "median_dense": median(fill(q.dense) for q in prs),
            "median_pruned": median(fill(q.pruned) for q in prs)}
    return out


def perf_summary(c: Campaign) -> dict[str, Any]:
    """Everything ``perf.json`` holds about the campaign (see the module docstring)."""
    ours, stock = _runs(c, "ours"), _runs(c, STOCK)
    out: dict[str, Any] = {
        "campaign": c.name, "kind": c.kind, "path": str(c.path),
        "runs": len(c.runs), "errors": sum(not r.ok for r in c.runs),
        "time_limit_s": sorted({r.time_limit_s for r in c.runs}),
        "pipelines": sorted({r.pipeline for r in c.runs}), "configs": c.configs(),
    }
    if c.kind == "build":
        out["build"] = build_summary(c)
    else:
        versus = maximization_versus if c.kind == "maximization" else verification_versus
        out["versus_stock"] = {cfg: versus(ours[cfg], stock[cfg])
                               for cfg in sorted(ours.keys() & stock.keys())}
        presets = preset_summary(c)
        if presets is not None:
            out["presets"] = presets
        out["pruned_vs_dense"] = pruned_vs_dense(c)
    out["bugs"] = soundness_bugs(c)
    return out


def read_sessions(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``machine.json`` sessions ``surrogate perf`` wrote in ``run_dir`` ([] if none)."""
    p = Path(run_dir) / MACHINE_NAME
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def write_perf_json(run_dir: str | Path, out_dir: str | Path) -> tuple[Path, dict[str, Any]]:
    """``out_dir/perf.json`` (the summary, the sessions that filled the store); returns its path
    and content."""
    record = perf_summary(load_campaign(run_dir))
    record["sessions"] = read_sessions(run_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "perf.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return path, record
