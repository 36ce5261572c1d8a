"""``perf.md``: the side-by-side figures of :mod:`surrogate.report.perf` as Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from surrogate.report.perf import write_perf_json
from surrogate.report.tables import markdown_table

__all__ = ["perf_markdown", "write_perf_report"]


def _f(v: Any, nd: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}g}"
    return str(v)


def _counts(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"


def _x(v: float | None) -> str:
    return "-" if v is None else f"**{v:.3g}x**"


def _head(rec: dict[str, Any]) -> list[str]:
    lines = [f"# Performance: {rec['campaign']}", "",
             f"- results: `{rec['path']}` ({rec['runs']} runs, {rec['errors']} with errors)",
             f"- pipelines: {', '.join(rec['pipelines'])}; configurations: "
             f"{', '.join(rec['configs'])}",
             f"- time limit per run: "
             f"{', '.join(f'{t:g} s' for t in rec['time_limit_s'] if t > 0) or '-'}"]
    for s in rec.get("sessions", [])[-3:]:
        m = s.get("machine", {})
        lines.append(f"- session {s.get('started', '?')}: `{s.get('command', '?')}` "
                     f"({m.get('cores', '?')} cores, load {m.get('load_average_1_5_15', '?')}, "
                     f"HiGHS {m.get('highs', '?')}, Pyomo {m.get('pyomo', '?')}, OMLT "
                     f"{m.get('omlt', '?')})")
    return lines


def _verification(cfg: str, v: dict[str, Any]) -> list[str]:
    s = v["summary"]
    lines = [f"## Ours vs stock OMLT: {cfg}", "",
             markdown_table(["", "ours", "stock OMLT"], [
                 ["answered (sat + unsat)", f"{s['ours_answered']} / {s['instances']}",
                  f"{s['stock_answered']} / {s['instances']}"],
                 ["answers", _counts(s["ours_answers"]), _counts(s["stock_answers"])],
                 ["median time (s)", _f(s["ours_median_s"]), _f(s["stock_median_s"])],
                 ["median CPU time of the task (s)", _f(s["ours_median_cpu_s"]),
                  _f(s["stock_median_cpu_s"])],
                 ["median time, same answer (s)", _f(s["same_answer_ours_median_s"]),
                  _f(s["same_answer_stock_median_s"])]]),
             "",
             f"- stock median / ours median: {_x(s['stock_over_ours_median'])} (CPU "
             f"{_x(s['stock_over_ours_median_cpu'])}); on the {s['agree']} instances both answer "
             f"alike: {_x(s['same_answer_stock_over_ours_median'])} (median of per-instance "
             f"ratios {_x(s['same_answer_median_of_ratios'])})",
             f"- disagreements (sat against unsat): **{s['disagree']}**", ""]
    rows = [[r["network"], r["instance"], r["ours"]["answer"], _f(r["ours"]["time_s"]),
             r["stock"]["answer"], _f(r["stock"]["time_s"]), _f(r["stock_over_ours"]),
             r["agreement"]] for r in v["rows"]]
    lines.append(markdown_table(["network", "instance", "ours", "ours (s)", "stock", "stock (s)",
                                 "stock / ours", "agreement"], rows))
    return lines


def _maximization(cfg: str, v: dict[str, Any]) -> list[str]:
    s = v["summary"]
    lines = [f"## Ours vs stock OMLT: {cfg}", "",
             f"- runs with an incumbent: ours {s['ours_with_incumbent']} / {s['instances']}, "
             f"stock {s['stock_with_incumbent']} / {s['instances']}",
             f"- ours better / worse than stock: {s['ours_better']} / {s['ours_worse']} "
             f"(median gain {_f(s['median_ours_gain'])})",
             f"- time to the stock's final value (ours never reaching it: the time limit): ours "
             f"median {_f(s['ours_median_s'])} s, stock {_f(s['stock_median_s'])} s: "
             f"{_x(s['stock_over_ours_median'])} (median of per-instance ratios "
             f"{_x(s['median_of_instance_ratios'])})", ""]
    rows = [[r["network"], r["instance"], _f(r["ours"]["best"], 6),
             _f(r["ours"]["time_to_stock_value_s"]), _f(r["stock"]["best"], 6),
             _f(r["stock"]["time_to_final_s"]), _f(r["stock"]["status"])] for r in v["rows"]]
    lines.append(markdown_table(["network", "instance", "ours best", "ours to stock value (s)",
                                 "stock best", "stock to its value (s)", "stock status"], rows))
    return lines


def _build(b: dict[str, Any]) -> list[str]:
    lines = ["## Build times", "",
             "Median of the timings of each task (`times_s` in perf.json); sizes of the model "
             "built.", ""]
    for net, d in b.items():
        rows = []
        for cfg, by in d["configs"].items():
            for p, v in sorted(by.items()):
                size = v.get("size") or {}
                rows.append([cfg, p, _f(v["time_s"]), _f(v.get("bounds_s")),
                             _f(v.get("build_s")), _f(size.get("variables")),
                             _f(size.get("binaries")), _f(size.get("constraints")),
                             _f(size.get("nonzeros"))])
        lines += [f"### {net}", "", markdown_table(
            ["configuration", "pipeline", "total (s)", "bounds (s)", "build (s)", "variables",
             "binaries", "constraints", "nonzeros"], rows), ""]
        rows = [[key, p, _f(r)] for key, by in d["ratios"].items() for p, r in by.items()]
        lines += [markdown_table(["ratio of", "pipeline", "value"], rows), ""]
    return lines


def perf_markdown(rec: dict[str, Any]) -> str:
    lines = _head(rec) + [""]
    if "build" in rec:
        lines += _build(rec["build"])
    for cfg, v in rec.get("versus_stock", {}).items():
        body = _maximization if rec["kind"] == "maximization" else _verification
        lines += body(cfg, v) + [""]
    if rec.get("presets"):
        p = rec["presets"]
        rows = [[name, str(e["runs"]), str(e["answered"]), _f(e["mean_s"]), _f(e["median_s"]),
                 _f(e["shifted_geomean_s"])] for name in p["ranking"]
                for e in (p["presets"][name],)]
        lines += ["## HiGHS presets (our dense runs)", "",
                  markdown_table(["preset", "runs", "answered", "mean (s)", "median (s)",
                                  "shifted geometric mean (s)"], rows),
                  "", f"Best: **{p['best']}** (most answered, then lowest shifted geometric "
                  "mean, shift 1 s).", ""]
    if rec.get("pruned_vs_dense"):
        rows = [[cfg, str(e["pairs"]), str(e["pruned_better"]), str(e["dense_better"]),
                 str(e["ties"]), _f(e["median_dense"]), _f(e["median_pruned"]), e["measure"]]
                for cfg, e in rec["pruned_vs_dense"].items()]
        lines += ["## Ours: pruned vs dense", "",
                  markdown_table(["configuration", "pairs", "pruned better", "dense better",
                                  "ties", "median dense", "median pruned", "measure"], rows), ""]
    bugs = rec.get("bugs") or []
    lines += ["## Soundness", "",
              "No instance answered both sat and unsat." if not bugs else
              f"**{len(bugs)} SOUNDNESS BUG(S)**: instances answered both sat and unsat:", ""]
    if bugs:
        lines.append(markdown_table(["network", "instance", "sat", "unsat"], [
            [b["network"], b["instance"], ", ".join(b["sat"]), ", ".join(b["unsat"])]
            for b in bugs]))
    return "\n".join(lines).rstrip() + "\n"


def write_perf_report(run_dir: str | Path, out_dir: str | Path) -> tuple[Path, Path, dict]:
    """``out_dir/perf.json`` and ``out_dir/perf.md``; returns both paths and the record."""
    json_path, rec = write_perf_json(run_dir, out_dir)
    md = Path(out_dir) / "perf.md"
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text(perf_markdown(rec))
    tmp.replace(md)
    return json_path, md, rec
