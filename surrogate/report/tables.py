"""Counts, medians and dense-vs-pruned comparisons per configuration, as Markdown tables.

Pairing: a pruned run of our pipeline is compared with our dense run of the same network, problem
instance and seed. For times (verification and instances), an unsolved run counts at the
*sentinel* time ``S`` (:func:`sentinel_s`); the pruned run is *faster* when ``t_pruned < t_dense``,
*slower* when ``t_pruned > t_dense`` and *tied* otherwise (both unsolved: both at ``S``). For
maximisation the pruned run is *better* when its best dense objective beats the dense run's by more
than the tolerance :data:`~surrogate.report.data.OBJ_RTOL`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from surrogate.report.data import Campaign, Run, better, median

__all__ = [
    "Pair",
    "Shares",
    "auto_choices",
    "family_table",
    "higher_table",
    "portfolio_table",
    "markdown_table",
    "pairs",
    "seed_noise",
    "sentinel_s",
    "shares",
    "sooner_table",
    "summary_table",
]


@dataclass(frozen=True)
class Pair:
    """A pruned run and the dense run of the same (network, instance, seed)."""

    group: tuple[str, str, int]
    method: str
    sparsity: float
    dense: float | None  # solved time (verification, instances) or best dense objective
    pruned: float | None
    maximize: bool = True


@dataclass(frozen=True)
class Shares:
    """How many pairs fall on each side of the diagonal."""

    n: int
    pruned_better: int
    dense_better: int
    ties: int

    def pct(self, k: int) -> str:
        return "-" if self.n == 0 else f"{100.0 * k / self.n:.0f}%"


#: The row of a finetuned configuration with its finetuning time taken off the run's times.
NOT_COUNTED = " (finetuning not counted)"


def sentinel_s(campaign: Campaign) -> float:
    """Where unsolved runs are drawn and counted: the time limit (the largest one stored), or the
    largest solved time if a run solved after it (setup counts on top of the solver limit)."""
    limits = [r.time_limit_s for r in campaign.runs] or [1.0]
    solved = [t for r in campaign.ok_runs() if (t := campaign.solved_time(r)) is not None]
    return max([max(limits), *solved])


def _value(campaign: Campaign, run: Run) -> float | None:
    return run.objective if run.kind == "maximization" else campaign.solved_time(run)


def pairs(campaign: Campaign) -> dict[tuple[str, float], list[Pair]]:
    """Pairs per (method, sparsity), in a fixed order."""
    dense = {r.group: r for r in campaign.ok_runs() if r.config == "dense"}
    out: dict[tuple[str, float], list[Pair]] = defaultdict(list)
    for r in campaign.ok_runs():
        d = dense.get(r.group)
        if r.sparsity == 0 or r.pipeline != "ours" or d is None:
            continue
        out[(r.method, r.sparsity)].append(
            Pair(
                r.group, r.method, r.sparsity, _value(campaign, d), _value(campaign, r), r.maximize
            )
        )
    return {k: sorted(v, key=lambda p: p.group) for k, v in sorted(out.items())}


def shares(prs: Sequence[Pair], *, objective: bool, sentinel: float) -> Shares:
    """Counts of pairs where the pruned run is better, worse, or tied (see the module docstring)."""
    pb = db = ties = 0
    for p in prs:
        if objective:
            if p.pruned is None or p.dense is None:
                win_p, win_d = (
                    p.dense is None and p.pruned is not None,
                    p.pruned is None and p.dense is not None,
                )
            else:
                win_p, win_d = (
                    better(p.pruned, p.dense, p.maximize),
                    better(p.dense, p.pruned, p.maximize),
                )
        else:
            tp = sentinel if p.pruned is None else p.pruned
            td = sentinel if p.dense is None else p.dense
            win_p, win_d = tp < td, td < tp
        pb += win_p
        db += win_d
        ties += not (win_p or win_d)
    return Shares(len(prs), pb, db, ties)


def _fmt(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def summary_table(campaign: Campaign) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the per-configuration summary (kind-dependent columns)."""
    kind = campaign.kind
    by_cfg: dict[str, list[Run]] = defaultdict(list)
    for r in campaign.runs:
        by_cfg[r.config].append(r)
    prs = {f"{m}@{p:g}": v for (m, p), v in pairs(campaign).items()}
    sent = sentinel_s(campaign)
    rows = []
    for cfg in campaign.configs():
        runs = by_cfg[cfg]
        ok = [r for r in runs if r.ok]
        row = [cfg, str(len(runs)), str(len(runs) - len(ok))]
        solved = [t for r in ok if (t := campaign.solved_time(r)) is not None]
        sh = shares(prs.get(cfg, []), objective=kind == "maximization", sentinel=sent)
        vs_dense = "-" if cfg == "dense" or sh.n == 0 else f"{sh.pruned_better}/{sh.n}"
        if kind == "maximization":
            row += [
                str(sum(r.objective is not None for r in ok)),
                str(len(solved)),
                _fmt(median(solved)),
                vs_dense,
                "-" if cfg == "dense" or sh.n == 0 else f"{sh.dense_better}/{sh.n}",
            ]
        else:
            counts: dict[str, int] = defaultdict(int)
            for r in ok:
                counts[r.outcome] += 1
            third = "timeout" if kind == "instances" else "unknown"
            row += [
                str(counts["sat"]),
                str(counts["unsat"]),
                str(counts[third]),
                str(len(solved)),
                _fmt(median(solved)),
                _fmt(median(r.elapsed_s for r in ok)),
                vs_dense,
            ]
        rows.append(row)
    return _headers(kind), rows


def _headers(kind: str) -> list[str]:
    head = ["configuration", "runs", "errors"]
    if kind == "maximization":
        return head + [
            "with incumbent",
            "reached best known",
            "median time to best known (s)",
            "better than dense",
            "worse than dense",
        ]
    third = "timeout" if kind == "instances" else "unknown"
    solved = "solved (sat+unsat)" if kind == "instances" else "solved (dense adversarial)"
    return head + [
        "sat",
        "unsat",
        third,
        solved,
        "median time to solve (s)",
        "median run time (s)",
        "faster than dense",
    ]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""

    def cell(s: str) -> str:
        return str(s).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def family_table(campaign: Campaign) -> tuple[list[str], list[list[str]]]:
    """Per benchmark family (an instances campaign over a folder: the first part of each
    network's path), per configuration: answers, ``conflicts`` (instances one run answered
    ``sat`` -- a checked counterexample -- and another ``unsat``: a wrong answer), the median
    time of the answered runs and the total time."""
    families = campaign.spec.get("families", False)
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    answers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in campaign.runs:
        fam = r.network.split("/")[0] if families and "/" in r.network else campaign.name
        groups[(fam, r.config)].append(r)
        if r.ok and r.outcome in ("sat", "unsat"):
            answers[(r.network, r.instance)].add(r.outcome)
    conflicted = {k for k, v in answers.items() if len(v) > 1}
    rows = []
    for (fam, cfg), runs in sorted(groups.items()):
        ok = [r for r in runs if r.ok]
        counts: dict[str, int] = defaultdict(int)
        for r in ok:
            counts[r.outcome] += 1
        answered = [r.elapsed_s for r in ok if r.outcome in ("sat", "unsat")]
        wrong = sum((r.network, r.instance) in conflicted for r in ok)
        rows.append([fam, cfg, str(len(runs)), str(counts["sat"]), str(counts["unsat"]),
                     str(counts["timeout"] + counts["unknown"]), str(len(runs) - len(ok)),
                     str(wrong), f"{len(answered)}/{len(runs)}", _fmt(median(answered)),
                     _fmt(sum(r.elapsed_s for r in ok), 0)])
    headers = ["family", "configuration", "instances", "sat", "unsat", "timeout/unknown",
               "errors", "conflicts", "answered", "median time answered (s)", "total time (s)"]
    return headers, rows


#: The times (s) at which a portfolio campaign's values are compared (issue 11's metric).
PORTFOLIO_TIMES = (10.0, 60.0)


def portfolio_table(campaign: Campaign) -> tuple[list[str], list[list[str]], list[str]]:
    """A maximisation campaign with ``strategy:portfolio`` runs: per instance, the best dense
    value of every configuration at each of :data:`PORTFOLIO_TIMES` below the campaign's time
    limit and at the limit (at most the last of them; from the runs' anytime
    traces), and the sentences that count how often the portfolio is at least the best single
    component, above our dense MILP and at least the plain gradient ascent."""
    portfolio = "strategy:portfolio"
    by_group: dict[tuple[str, str, int], dict[str, Run]] = defaultdict(dict)
    for r in campaign.ok_runs():
        by_group[r.group][r.config] = r
    configs = [c for c in campaign.configs() if c != portfolio]
    limit = max((r.time_limit_s for r in campaign.runs), default=PORTFOLIO_TIMES[-1])
    times = sorted({t for t in PORTFOLIO_TIMES if t < limit} | {min(limit, PORTFOLIO_TIMES[-1])})
    seeds = len({r.seed for r in campaign.runs}) > 1
    rows, lines = [], []
    for when in times:
        n = ge_best = gt_dense = ge_grad = above_start = 0
        for group, runs in sorted(by_group.items()):
            if portfolio not in runs:
                continue
            p = runs[portfolio].value_at(when)
            up = runs[portfolio].maximize
            others = {c: runs[c].value_at(when) for c in configs if c in runs}
            if when == times[-1]:
                name = f"{group[0]} (seed {group[2]})" if seeds else group[0]
                rows.append([name, _fmt(p, 4)] + [_fmt(others.get(c), 4) for c in configs])
            if p is None:
                continue
            n += 1
            start = runs[portfolio].record.get("start_objective")
            above_start += start is None or (p > float(start) if up else p < float(start))
            known = [v for v in others.values() if v is not None]
            ge_best += not known or all(not better(v, p, up) for v in known)
            dense = others.get("dense")
            gt_dense += dense is None or better(p, dense, up)
            grad = others.get("strategy:gradient")
            ge_grad += grad is None or not better(grad, p, up)
        lines.append(f"at {when:g} s: the portfolio is at least the best single component on "
                     f"{ge_best}/{n} instances, above our dense MILP on {gt_dense}/{n}, at least "
                     f"the plain gradient ascent on {ge_grad}/{n}, above its start on "
                     f"{above_start}/{n}")
    headers = ["network", f"portfolio ({times[-1]:g} s)"] + configs
    return headers, rows, lines


def _time(campaign: Campaign, run: Run, sentinel: float) -> float:
    t = campaign.solved_time(run)
    return sentinel if t is None else t


def _final(run: Run) -> float:
    """A maximisation run's best dense objective, signed so that larger is better (no incumbent:
    -inf)."""
    v = run.objective
    return -float("inf") if v is None else (v if run.maximize else -v)


def _spread(a: float, b: float) -> float:
    """How far apart two signed objectives are, relative to their size (0 when equal)."""
    if a == b:
        return 0.0
    if not (abs(a) < float("inf") and abs(b) < float("inf")):
        return float("inf")
    return abs(a - b) / max(1.0, abs(a), abs(b))


def seed_noise(campaign: Campaign) -> list[float]:
    """Sweeps with several seeds: for every configuration, (network, instance) and two seeds, how
    much the solver seed alone moved the result, sorted. Verification: the ratio
    ``max(t_a, t_b) / min(t_a, t_b)`` of the times to the first dense adversarial (unsolved: the
    sentinel); maximisation: the relative gap ``|v_a - v_b| / max(1, |v_a|, |v_b|)`` of the best
    dense objectives."""
    sent = sentinel_s(campaign)
    objective = campaign.kind == "maximization"
    by: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for r in campaign.ok_runs():
        by[(r.config, r.network, r.instance)].append(
            _final(r) if objective else max(_time(campaign, r, sent), 1e-3))
    if objective:
        return sorted(_spread(a, b) for vs in by.values() for i, a in enumerate(vs)
                      for b in vs[:i])
    return sorted(max(a, b) / min(a, b) for ts in by.values() for i, a in enumerate(ts)
                  for b in ts[:i])


def auto_choices(campaign: Campaign) -> dict[tuple[tuple[str, str, int], str], Run]:
    """Per (group, method): the pruned run the automatic rule
    (:func:`surrogate.app.sparsity.pick_sparsity`) would have chosen, from the unstable-neuron
    counts the runs recorded (known before solving)."""
    from surrogate.app.sparsity import pick_sparsity  # lazy: the rule lives with the library

    by: dict[tuple[tuple[str, str, int], str], dict[float, Run]] = defaultdict(dict)
    dense: dict[tuple[str, str, int], Run] = {}
    for r in campaign.ok_runs():
        if r.pipeline != "ours":
            continue
        if r.sparsity == 0:
            dense[r.group] = r
        else:
            by[(r.group, r.method)][r.sparsity] = r
    out = {}
    for (group, method), runs in by.items():
        d = dense.get(group)
        if d is None:
            continue
        counts = {0.0: int((d.record.get("neurons") or {}).get("unstable", 0))}
        counts.update({p: int((r.record.get("neurons") or {}).get("unstable", 0))
                       for p, r in runs.items()})
        p = pick_sparsity(counts)
        if p is not None:
            out[(group, method)] = runs[p]
    return out


def _against_dense(campaign: Campaign, value: Callable[[Run], float], *, finetune: bool
                   ) -> tuple[dict[str, list[tuple[float, float]]], list[str]]:
    """Per configuration: ``(value of the dense run, value of the run)`` of every (network,
    instance, seed) with a dense run (ours); rows for the automatic sparsity per method and, with
    ``finetune``, for finetuned configurations with their finetuning time taken off. Returns the
    pairs and the rows' order."""
    dense = {r.group: r for r in campaign.ok_runs() if r.config == "dense"}
    rows_by: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in campaign.ok_runs():
        d = dense.get(r.group)
        if r.config == "dense" or d is None:
            continue
        rows_by[r.config].append((value(d), value(r)))
        tuned = r.record.get("prune") or {}
        if finetune and tuned.get("finetuned"):
            t = campaign.solved_time(r)
            rows_by[r.config + NOT_COUNTED].append(
                (value(d), value(r) if t is None
                 else max(t - float(tuned.get("time_s") or 0.0), 0.0)))
    for (group, method), r in sorted(auto_choices(campaign).items()):
        rows_by[f"auto ({method})"].append((value(dense[group]), value(r)))
    order = [c + tail for c in campaign.configs() for tail in ("", NOT_COUNTED)
             if c + tail in rows_by] + sorted(c for c in rows_by if c.startswith("auto"))
    return rows_by, order


def _noise_line(noise: list[float], floor: float | None, what: str, clearly: str) -> list[str]:
    if not noise or floor is None:
        return []
    return [f"seed-to-seed noise ({len(noise)} pairs of runs that differ only by the solver seed, "
            f"every configuration): median {what} {median(noise):.3g}, 90th percentile "
            f"{floor:.3g}; '{clearly}' means by more than that 90th percentile"]


def sooner_table(campaign: Campaign) -> tuple[list[str], list[list[str]], list[str]]:
    """Verification sweeps: every configuration against the dense run (ours) of the same
    (network, instance, seed) by time to the first dense adversarial (unsolved: the sentinel):
    faster / slower / tied, and "clearly faster" (by more than the seed-to-seed noise: the 90th
    percentile of :func:`seed_noise`, when the campaign has several seeds). Rows: each pruned
    configuration, the automatic sparsity (per method) and every other pipeline's dense run;
    a finetuned configuration (``M+finetune``, whose run times include the finetuning) also
    without its finetuning time (the same runs, the pruning time taken off)."""
    sent = sentinel_s(campaign)
    noise = seed_noise(campaign)
    floor = noise[int(0.9 * (len(noise) - 1))] if noise else None
    rows_by, order = _against_dense(campaign, lambda r: _time(campaign, r, sent), finetune=True)
    headers = ["configuration", "pairs", "faster", "slower", "tie", "clearly faster",
               "median t (s)", "median t dense (s)"]
    rows = []
    for cfg in order:
        prs = rows_by[cfg]
        n = len(prs)
        faster = sum(t < td for td, t in prs)
        slower = sum(t > td for td, t in prs)
        clearly = "-" if floor is None else str(sum(t * floor < td for td, t in prs))
        rows.append([cfg, str(n), f"{faster} ({100 * faster / n:.0f}%)",
                     f"{slower} ({100 * slower / n:.0f}%)", str(n - faster - slower), clearly,
                     _fmt(median(t for _, t in prs)), _fmt(median(td for td, _ in prs))])
    lines = [f"unsolved runs count at the sentinel {sent:g} s"]
    lines += _noise_line(noise, floor, "ratio", "clearly faster")
    return headers, rows, lines


def higher_table(campaign: Campaign) -> tuple[list[str], list[list[str]], list[str]]:
    """Maximisation sweeps: every configuration against the dense run (ours) of the same
    (network, instance, seed) by the best dense objective at the limit: better / worse / tied
    (:data:`~surrogate.report.data.OBJ_RTOL`), and "clearly better" (by more than the
    seed-to-seed noise: the 90th percentile of :func:`seed_noise`'s relative gaps, when the
    campaign has several seeds). Rows as :func:`sooner_table`'s."""
    noise = seed_noise(campaign)
    floor = noise[int(0.9 * (len(noise) - 1))] if noise else None
    rows_by, order = _against_dense(campaign, _final, finetune=False)
    headers = ["configuration", "pairs", "better", "worse", "tie", "clearly better",
               "clearly worse"]
    rows = []
    for cfg in order:
        prs = rows_by[cfg]
        n = len(prs)
        up = sum(better(v, vd, True) for vd, v in prs)
        down = sum(better(vd, v, True) for vd, v in prs)
        if floor is None:
            c_up = c_down = "-"
        else:
            c_up = str(sum(v > vd and _spread(v, vd) > floor for vd, v in prs))
            c_down = str(sum(vd > v and _spread(v, vd) > floor for vd, v in prs))
        rows.append([cfg, str(n), f"{up} ({100 * up / n:.0f}%)", f"{down} ({100 * down / n:.0f}%)",
                     str(n - up - down), c_up, c_down])
    return headers, rows, _noise_line(noise, floor, "relative gap", "clearly")
