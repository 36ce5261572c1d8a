"""PNG plots of a campaign (matplotlib's Agg renderer through :class:`matplotlib.figure.Figure`,
no pyplot state, no display needed).

* :func:`cactus`: per configuration, the number of instances solved within ``t`` against ``t``
  (each configuration's solved times sorted; a step per solved run).
* :func:`scatter`: dense against pruned, one panel per sparsity: times to solve on log-log axes
  (unsolved runs at the sentinel, drawn hollow on the dashed sentinel lines) or best dense
  objectives (maximisation, linear axes); the panel title gives the shares on each side of the
  diagonal (:func:`surrogate.report.tables.shares`).
* :func:`anytime`: best dense objective so far against time, one panel per instance, a line per run.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from surrogate.report.data import Campaign, Run
from surrogate.report.tables import Pair, pairs, sentinel_s, shares

__all__ = ["anytime", "cactus", "scatter", "scatter_files"]

MAX_ANYTIME_PANELS = 12


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def cactus(campaign: Campaign, path: Path) -> Path:
    """Solved instances against time, one step line per configuration (up to the sentinel)."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(7.0, 4.5)
    ax = fig.subplots()
    configs = campaign.configs()
    by_cfg: dict[str, list[float]] = defaultdict(list)
    for r in campaign.ok_runs():
        t = campaign.solved_time(r)
        if t is not None:
            by_cfg[r.config].append(max(t, 1e-3))
    sent = sentinel_s(campaign)
    lo = 10 ** math.floor(math.log10(min([sent / 100, *(t for v in by_cfg.values() for t in v)])))
    for cfg, color in zip(configs, _colors(len(configs)), strict=True):
        times = sorted(by_cfg.get(cfg, []))
        xs, ys = [lo, *times, sent], [0, *range(1, len(times) + 1), len(times)]
        ax.step(
            xs,
            ys,
            where="post",
            color=color,
            label=f"{cfg} ({len(times)})",
            lw=2 if cfg == "dense" else 1.4,
        )
    n_inst = len({r.group for r in campaign.runs})
    ax.axvline(sent, color="gray", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(lo, sent * 1.3)
    ax.set_ylim(-0.02 * max(n_inst, 1), n_inst * 1.05 + 0.1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time (s, setup included)")
    ax.set_ylabel(f"instances solved (of {n_inst})")
    what = {
        "verification": "dense adversarial found",
        "instances": "sat or unsat",
        "maximization": "best known dense objective reached",
    }.get(campaign.kind, "solved")
    ax.set_title(f"{campaign.name}: solved vs time ({what})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    fig.savefig(path)
    return path


def scatter_files(campaign: Campaign, out_dir: Path) -> dict[str, Path]:
    """One scatter figure per pruning method that has pairs: ``{method: file}``."""
    methods = sorted({m for (m, _) in pairs(campaign)})
    return {m: out_dir / f"scatter-{re.sub(r'[^A-Za-z0-9_.-]+', '_', m)}.png" for m in methods}


def scatter(campaign: Campaign, method: str, path: Path) -> Path:
    """Dense vs pruned (``method``), one panel per sparsity."""
    objective = campaign.kind == "maximization"
    by_p = {p: v for (m, p), v in pairs(campaign).items() if m == method}
    n = max(1, len(by_p))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(max(5.0, 3.8 * cols), 4.0 * rows + 0.4)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(by_p) :]:
        ax.set_visible(False)
    sent = sentinel_s(campaign)
    all_times = [v for prs in by_p.values() for p in prs for v in (p.dense, p.pruned)]
    lo = min([sent / 100, *(v for v in all_times if v is not None and v > 0)])
    lo = 10 ** math.floor(math.log10(max(lo, 1e-4)))  # one scale for every panel
    for ax, (p, prs) in zip(axes, sorted(by_p.items()), strict=False):
        sh = shares(prs, objective=objective, sentinel=sent)
        if objective:
            _objective_panel(ax, prs)
            better, worse = "pruned better", "dense better"
        else:
            _time_panel(ax, prs, sent, lo)
            better, worse = "pruned faster", "dense faster"
        ax.set_title(
            f"p = {p:g} (n = {sh.n})\n{better} {sh.pct(sh.pruned_better)}, "
            f"{worse} {sh.pct(sh.dense_better)}, tie {sh.pct(sh.ties)}",
            fontsize="small",
        )
    what = "best dense objective" if objective else "time to solve (s)"
    fig.suptitle(f"{campaign.name}: dense vs {method}, {what}")
    fig.savefig(path)
    return path


def _time_panel(ax: Any, prs: Sequence[Pair], sent: float, lo: float) -> None:
    hi = sent * 1.6
    solved = [(p.dense, p.pruned) for p in prs if p.dense is not None and p.pruned is not None]
    hollow = [
        (sent if p.dense is None else p.dense, sent if p.pruned is None else p.pruned)
        for p in prs
        if p.dense is None or p.pruned is None
    ]
    if solved:
        ax.scatter(
            [max(d, lo) for d, _ in solved],
            [max(q, lo) for _, q in solved],
            s=18,
            color="tab:blue",
            label="both solved",
        )
    if hollow:
        ax.scatter(
            [max(d, lo) for d, _ in hollow],
            [max(q, lo) for _, q in hollow],
            s=30,
            facecolors="none",
            edgecolors="tab:red",
            label="unsolved at sentinel",
        )
    ax.plot([lo, hi], [lo, hi], color="gray", lw=1)
    ax.axvline(sent, color="tab:red", ls="--", lw=0.8)
    ax.axhline(sent, color="tab:red", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("dense MILP (s)")
    ax.set_ylabel("pruned MILP (s)")
    ax.grid(True, which="major", alpha=0.3)
    if solved or hollow:
        ax.legend(fontsize="x-small", loc="upper left")


def _objective_panel(ax: Any, prs: Sequence[Pair]) -> None:
    pts = [(p.dense, p.pruned) for p in prs if p.dense is not None and p.pruned is not None]
    if pts:
        ax.scatter([d for d, _ in pts], [q for _, q in pts], s=18, color="tab:blue")
        vals = [v for pt in pts for v in pt]
        lo, hi = min(vals), max(vals)
        pad = 0.05 * (hi - lo or 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="gray", lw=1)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("dense MILP: best dense objective")
    ax.set_ylabel("pruned MILP: best dense objective")
    ax.grid(True, alpha=0.3)


def anytime(campaign: Campaign, path: Path) -> Path:
    """Best dense objective so far against time, per instance (first 12 instances)."""
    groups: dict[tuple[str, str], list[Run]] = defaultdict(list)
    for r in campaign.ok_runs():
        if r.kind == "maximization" and r.anytime():
            groups[(r.network, r.instance)].append(r)
    keys = sorted(groups)[:MAX_ANYTIME_PANELS]
    n = max(1, len(keys))
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = _figure(4.2 * cols, 3.2 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    configs = campaign.configs()
    color = dict(zip(configs, _colors(len(configs)), strict=True))
    for ax, key in zip(axes, keys, strict=False):
        seen: set[str] = set()
        for r in sorted(groups[key], key=lambda r: (r.sparsity, r.method, r.seed)):
            pts = r.anytime()
            end = max(r.elapsed_s, pts[-1][0])
            xs = [max(t, 1e-3) for t, _ in pts] + [max(end, 1e-3)]
            ys = [v for _, v in pts] + [pts[-1][1]]
            label = None if r.config in seen else r.config
            seen.add(r.config)
            ax.step(
                xs,
                ys,
                where="post",
                color=color[r.config],
                label=label,
                lw=2 if r.config == "dense" else 1.2,
            )
        ax.set_xscale("log")
        ax.set_title(f"{key[0]} {key[1]}", fontsize="small")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("best dense objective")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="x-small")
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    fig.suptitle(f"{campaign.name}: anytime best dense objective")
    fig.savefig(path)
    return path
