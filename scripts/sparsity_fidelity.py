"""Fidelity measures of pruned surrogates, known before solving, against a Task 1 campaign's runs.

An analysis for issue 13's automatic sparsity (docs/results.md, "Fidelity measures before
solving"), not part of the library: for every (network, image, pruning method, sparsity) of a
verification sweep it computes, on the dense network ``f`` and the pruned one ``g`` (the
problem's objective: the top-2 margin, <= 0 is an adversarial):

- ``corr``: the correlation of the changes ``f(x) - f(x0)`` and ``g(x) - g(x0)`` over 256
  extreme points of the input set (random corners of the L-inf box; for an L1 ball, random
  coordinates moved to a bound of the domain until the budget is spent);
- ``cos``: the cosine of the two networks' gradients of the objective at the centre ``x0``;
- ``fake``: PGD on the pruned network (50 steps, 4 restarts) reaches ``g <= 0`` at a point where
  the dense network has ``f > 0`` (the pruned network has an adversarial the dense one has not);

then counts, per campaign, the runs where the sparsity picked by :func:`pick_sparsity` (on the
recorded unstable counts) was sooner than the dense MILP, the same with the ``fake`` candidates
left out, and with each feature's best candidate, beside the best fixed sparsity in hindsight.

Usage (from the checkout, with the campaign's report beside it in docs/results/NAME):
    .venv/bin/python scripts/sparsity_fidelity.py problems/mnist-linf.toml docs/results/mnist-linf
Prints one line per pruning method, then the features as one JSON line.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import json
import os
import sys

import numpy as np

from surrogate.app.sparsity import pick_sparsity
from surrogate.bench.spec import load_spec
from surrogate.bench.tasks import expand_tasks
from surrogate.bench.worker import build_problem, task_surrogate
from surrogate.problems.attack import pgd_attack
from surrogate.report.data import better
from surrogate.sets import L1Ball


def _gradient(net, c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d(c . net(x))/dx at ``x`` (the activation pattern at ``x``)."""
    h, masks = x, []
    for layer in net.layers:
        z = layer.weight @ h + layer.bias
        relu = layer.activation == "relu"
        masks.append((z > 0).astype(float) if relu else np.ones_like(z))
        h = np.maximum(z, 0.0) if relu else z
    g = c.copy()
    for layer, m in zip(reversed(net.layers), reversed(masks), strict=True):
        g = layer.weight.T @ (g * m)
    return g


def _extremes(s, x0: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    X = np.empty((n, x0.size))
    for j in range(n):
        if isinstance(s, L1Ball):
            x, left = x0.copy(), s.eps
            for i in rng.permutation(x0.size):
                if left <= 1e-12:
                    break
                target = s.upper[i] if rng.random() < 0.5 else s.lower[i]
                move = min(abs(target - x0[i]), left)
                left -= move
                x[i] = x0[i] + np.sign(target - x0[i]) * move
            X[j] = x
        else:
            X[j] = np.where(rng.random(x0.size) < 0.5, s.lower, s.upper)
    return X


def features(spec_path: str) -> dict[tuple[str, str, str, float], dict[str, float]]:
    """``corr``, ``cos`` and ``fake`` (module docstring) of every pruned configuration of the
    sweep ``spec_path``, keyed by (network file name, instance label, method, sparsity)."""
    tasks = expand_tasks(load_spec(spec_path))
    out: dict[tuple[str, str, str, float], dict[str, float]] = {}
    dense: dict[tuple[str, str], tuple] = {}  # per (network, instance): its problem, once
    for t in tasks:
        if t.sparsity == 0 or "finetune" in t.method or t.pipeline != "ours":
            continue
        key = (os.path.basename(t.network), t.instance, t.method, float(t.sparsity))
        if key in out:
            continue
        if (t.network, t.instance) not in dense:
            prob, _ = build_problem(t)
            if (prob.kind != "verification" or len(prob.unsafe) != 1
                    or prob.unsafe[0].C.shape[0] != 1):
                raise SystemExit(f"{spec_path}: needs a robustness sweep with one target class "
                                 "(target = \"top2\" or a class index)")
            c = prob.unsafe[0].C[0]
            x0 = np.asarray(prob.x0, dtype=np.float64)
            X = _extremes(prob.input_set, x0, 256, np.random.default_rng(0))
            fd = np.array([prob.objective_of_outputs(y) for y in prob.network.forward(X)])
            dense[(t.network, t.instance)] = (prob, c, x0, X, fd, _gradient(prob.network, c, x0))
        prob, c, x0, X, fd, gd = dense[(t.network, t.instance)]
        net = task_surrogate(t).network  # the runs' own surrogate (pruning options and data)
        fp = np.array([prob.objective_of_outputs(y) for y in net.forward(X)])
        gp = _gradient(net, c, x0)
        pruned = dataclasses.replace(prob, network=net)
        att = pgd_attack(pruned, steps=50, restarts=4, seed=0)
        dense_at = prob.objective_of_outputs(prob.network.forward(att.x))
        corr = float(np.corrcoef(fd, fp)[0, 1]) if fd.std() > 0 and fp.std() > 0 else 0.0
        norm = float(np.linalg.norm(gd) * np.linalg.norm(gp))
        out[key] = {"corr": corr, "cos": float(gd @ gp) / norm if norm > 0 else 0.0,
                    "fake": float(att.objective <= 0.0 < dense_at)}
    return out


def evaluate(results_csv: str, feats: dict) -> dict[str, dict[str, int]]:
    """Per pruning method: the runs, and how many of them each fixed sparsity and each rule's
    pick was sooner to a dense adversarial than the dense MILP of the same image and seed."""
    csv.field_size_limit(10**9)
    # (unstable count, time to the first dense adversarial; unsolved: a sentinel above any limit)
    dense: dict[tuple, tuple[int, float]] = {}
    runs: dict[tuple, dict[float, tuple[int, float]]] = collections.defaultdict(dict)
    with open(results_csv, newline="") as fh:
        for r in csv.DictReader(fh):
            if r["status"] != "ok" or (r.get("record.pipeline") or "ours") != "ours":
                continue
            g = (os.path.basename(r["network"]), r["instance"], r["seed"])
            u = int(float(r["record.neurons.unstable"] or 0))
            t = r["record.time_to_first_success_s"]
            v = float(t) if t else 1e9
            p = float(r["sparsity"])
            if p == 0 and r["config"] == "dense":
                dense[g] = (u, v)
            elif p > 0 and "finetune" not in r["method"]:
                runs[(g, r["method"])][p] = (u, v)
    table: dict[str, dict[str, int]] = collections.defaultdict(collections.Counter)
    for (g, m), d in runs.items():
        if g not in dense:
            continue
        ud, vd = dense[g]
        row = table[m]
        row["runs"] += 1
        for p, (_, v) in d.items():
            row[f"fixed {p}"] += better(v, vd, maximize=False)  # the report's "sooner"
        f = {p: feats[(g[0], g[1], m, p)] for p in d}
        counts = {p: u for p, (u, _) in d.items()}
        kept = {p: u for p, u in counts.items() if not f[p]["fake"]} or counts
        picks = {
            "rule": pick_sparsity({0.0: ud, **counts}),
            "rule without fake": pick_sparsity({0.0: ud, **kept}),
            "best corr": max(d, key=lambda p: f[p]["corr"]),
            "best cos": max(d, key=lambda p: f[p]["cos"]),
        }
        for name, p in picks.items():
            row[name] += p is not None and better(d[p][1], vd, maximize=False)
    return table


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spec", help="the campaign's TOML (problems/NAME.toml)")
    ap.add_argument("report", help="its report folder (with results.csv)")
    a = ap.parse_args()
    feats = features(a.spec)
    table = evaluate(os.path.join(a.report, "results.csv"), feats)
    for m, row in sorted(table.items()):
        fixed = {k: v for k, v in row.items() if k.startswith("fixed")}
        best = max(fixed, key=lambda k: fixed[k]) if fixed else "fixed -"
        print(f"{os.path.basename(a.report)} {m}: runs {row['runs']}, best {best} "
              f"{fixed.get(best, 0)}; " + ", ".join(
                  f"{k} {row[k]}" for k in ("rule", "rule without fake", "best corr", "best cos")))
    json.dump({"|".join(map(str, k)): v for k, v in feats.items()}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
