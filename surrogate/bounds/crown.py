r"""Optimised linear bounds (alpha/beta-CROWN) over a box, batched in torch, sound in float64.

:class:`CrownNet` back-substitutes linear rows through the network for a batch of **domains**
(the input box with some ReLUs fixed active or inactive, see :mod:`surrogate.search.relu_bab`):

* an unstable ReLU (``l < 0 < u``) is replaced by its lower line ``h >= alpha z`` (any ``alpha``
  in ``[0, 1]``) where the row's coefficient is positive and by its upper line
  ``h <= s (z - l)``, ``s = u / (u - l)``, where it is negative (CROWN: Zhang et al., NeurIPS
  2018);
* a split ``sigma_j z_j >= 0`` clips ``l`` or ``u`` at 0 and enters as the Lagrangian term
  ``- beta_j sigma_j z_j``, ``beta_j >= 0`` (beta-CROWN: Wang et al., NeurIPS 2021): on the
  domain it is ``<= 0``, so subtracting it never raises the minimum.

Every ``alpha`` in ``[0, 1]`` and ``beta >= 0`` gives a valid lower bound; :func:`optimise`
raises it by projected gradient ascent (Adam through torch autograd), keeping per row the best
``alpha``/``beta`` seen.

Soundness in floating point: the search may run in float32 (:meth:`CrownNet.search_copy`, on
wide networks); the bound returned is recomputed in float64 with the best values it found
(clamped to their ranges), the upper line's slope rounded up by :data:`SLOPE_UP` (a
larger slope keeps ``h <= s (z - l)`` valid on ``[l, u]``), and lowered by
``BOUND_ROUND_REL * S``, ``S`` the same back-substitution done on absolute values (a bound on
every product and partial sum of the computation), or a majorant of it
(:meth:`CrownNet.magnitude_of_any_slopes`: one pass for a row and its negation under any
slopes). Float64 rounding of sums of at most ``10^4``
terms per layer, composed over the layers, stays below ``10^-12 S``: the margin ``10^-9 S`` leaves
a factor 1000. Pre-activation bounds ``l, u`` must themselves be sound (they are: every method of
:mod:`surrogate.bounds` widens its results).

:func:`alpha_bounds` uses the engine on the network's own neurons: layer by layer, the unstable
neurons' lower and upper bounds with ``alpha`` optimised per neuron (alpha-CROWN's intermediate
bounds), given the bounds of the layers before. It is much cheaper than the LP per neuron
(mnist_fc 256x6 prop_3_0.05: 548 unstable neurons after 3.8 s, the LP 649 after its 18 s);
``compute_bounds(..., "lp")`` runs it first on deep networks with many inputs (measured in
docs/verify.md). :mod:`surrogate.search.relu_bab` does the same optimisation per domain.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import numpy as np

from surrogate.bounds.interval import Bounds
from surrogate.budget import Budget
from surrogate.network.spec import Network
from surrogate.sets import Box

__all__ = ["BOUND_ROUND_REL", "SEARCH_F32_MIN_WIDTH", "CrownNet", "MixedRows", "alpha_bounds",
           "box_alpha_bounds", "optimise", "torch_threads"]

#: Margin per unit of the bound's absolute back-substitution (see the module docstring).
BOUND_ROUND_REL = 1e-9
#: Relative amount the upper line's slope is rounded up by.
SLOPE_UP = 1e-14
LR_ALPHA = 0.1
LR_BETA = 0.05
#: Adam steps per layer of :func:`alpha_bounds`.
ALPHA_STEPS = 20
#: The slopes are searched in float32 (:meth:`CrownNet.search_copy`) on networks with a layer of
#: at least this many neurons. Measured at 60 s: eran 9x200 every answered instance above 5 s
#: 5-60 % sooner; ACAS Xu 3_3 property 2 (layers of 50) 41.9 s in float64, 47.6 s in float32.
SEARCH_F32_MIN_WIDTH = 128
#: Bounds above this size are scaled down to it in the search's objective (Adam's squared
#: gradients must stay finite in float32). Only there: scaling every objective to 1 slowed ACAS
#: Xu (4_2 property 2: 27 s -> open at 60 s), Adam's ``eps`` then swamping small gradients.
OBJECTIVE_MAX = 1e12


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside the block. The bounds here are many small
    products: with 2 threads on a machine whose cores are busy, OpenMP's waiting made
    :func:`alpha_bounds` of a 64-16-16-16-3 net take 2.5-3.5 s instead of 0.02 s with one."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


class CrownNet:
    """A network, its input box and sound pre-activation bounds as float64 torch tensors; or,
    from :meth:`of_boxes`, a batch of boxes each with bounds of its own (one domain per box)."""

    def __init__(self, network: Network, box: Box, bounds: Bounds):
        self._setup(network, box.lower, box.upper, bounds.lower, bounds.upper)

    @classmethod
    def of_boxes(cls, network: Network, lo: np.ndarray, hi: np.ndarray,
                 lowers: list[np.ndarray], uppers: list[np.ndarray]) -> CrownNet:
        """Boxes ``(B, n)`` with sound pre-activation bounds ``(B, n_i)`` per layer: domain
        ``b`` of every bound is box ``b`` (input-splitting branch and bound)."""
        net = cls.__new__(cls)
        net._setup(network, lo[:, None, :], hi[:, None, :], lowers, uppers)
        return net

    def start_alpha(self, rows: int, below: int | None = None) -> dict:
        """CROWN's choice of lower slopes, where ``alpha`` starts: 1 where ``u > -l``, else 0,
        for every ReLU layer (below layer ``below``), shaped ``(domains, rows, n_i)``: one
        domain for a single box, one per box from :meth:`of_boxes`."""
        out = {}
        for i in self.relu_layers:
            if below is not None and i >= below:
                continue
            a = (self.up_b[i] > -self.lo_b[i]).to(self.torch.float64)
            a = a.unsqueeze(0) if a.dim() == 1 else a
            out[i] = a.unsqueeze(1).expand(-1, rows, -1).clone()
        return out

    def _setup(self, network: Network, x_lo: Any, x_hi: Any, lowers: Any, uppers: Any
               ) -> None:
        import torch

        self.torch = torch
        self.W = [torch.from_numpy(np.array(layer.weight)) for layer in network.layers]
        self.Wabs = [w.abs() for w in self.W]
        self.b = [torch.from_numpy(np.array(layer.bias)) for layer in network.layers]
        self.babs = [b.abs() for b in self.b]
        self.relu = [layer.activation == "relu" for layer in network.layers]
        self.lo_b = [torch.from_numpy(np.array(a, dtype=np.float64)) for a in lowers]
        self.up_b = [torch.from_numpy(np.array(a, dtype=np.float64)) for a in uppers]
        self.x_lo = torch.from_numpy(np.array(x_lo, dtype=np.float64))
        self.x_hi = torch.from_numpy(np.array(x_hi, dtype=np.float64))
        self.x_mag = torch.maximum(self.x_lo.abs(), self.x_hi.abs())
        self.relu_layers = [i for i, r in enumerate(self.relu) if r]
        self.widths = [int(w.shape[0]) for w in self.W]

    def search_copy(self) -> Self:
        """The same network, box and bounds in float32, for searching slopes and branching
        choices only, never for a bound (a float32 back-substitution is about twice as fast and
        its rounding does not matter there: every bound is recomputed in float64). ``self``
        (the search stays float64) when a weight, bias or bound does not fit float32 finitely,
        or when no layer has :data:`SEARCH_F32_MIN_WIDTH` neurons: on narrow networks the
        copies cost more than they save."""
        t = self.torch
        if max(self.widths) < SEARCH_F32_MIN_WIDTH:
            return self
        if not hasattr(self, "_params32"):
            params = ([w.to(t.float32) for w in self.W], [b.to(t.float32) for b in self.b])
            fits = all(bool(t.isfinite(x).all()) for x in params[0] + params[1])
            self._params32 = params if fits else None
        if self._params32 is None:
            return self
        lo = [x.to(t.float32) for x in self.lo_b]
        up = [x.to(t.float32) for x in self.up_b]
        x_lo, x_hi = self.x_lo.to(t.float32), self.x_hi.to(t.float32)
        if not all(bool(t.isfinite(x).all()) for x in [*lo, *up, x_lo, x_hi]):
            return self
        c = copy.copy(self)
        c.W, c.b = self._params32
        c.lo_b, c.up_b, c.x_lo, c.x_hi = lo, up, x_lo, x_hi
        c.x_mag = t.maximum(x_lo.abs(), x_hi.abs())
        c.Wabs = c.babs = []  # magnitudes are for bounds: float64 only
        return c

    @property
    def dtype(self) -> Any:
        """The tensors' dtype: float64, or float32 for a :meth:`search_copy`."""
        return self.W[0].dtype

    def layer_bounds(self, i: int, split):
        """Per-domain ``(l, u)`` of layer ``i``, the split sides clipped at 0 (``split``:
        ``(B, n_i)`` in ``{-1, 0, 1}``, or ``None``)."""
        t = self.torch
        lo, up = self.lo_b[i], self.up_b[i]
        if lo.dim() == 1:  # one box: the same bounds for every domain
            lo, up = lo.unsqueeze(0), up.unsqueeze(0)
        if split is None:
            return lo, up
        lo = t.where(split > 0, t.clamp(lo, min=0.0), lo)
        up = t.where(split < 0, t.clamp(up, max=0.0), up)
        return lo, up

    def magnitude_of_any_slopes(self, G_abs, k: int, *, splits: dict | None = None,
                                batch: int = 1):
        """``(B, R)``: for rows ``G v`` (no constant) with absolute values ``G_abs``
        (``(R, n_k)``) on layer ``k``'s pre-activation ``v``, a majorant of the magnitude ``S``
        of :meth:`backward` without its ``|lb|`` term, whatever the lower slopes and the sign
        of the rows, with no ``beta``:
        there every coefficient is ``|lambda|`` times ``max(a_lo, a_up)`` (``0`` on an
        inactive neuron, at most ``1 + SLOPE_UP`` otherwise) and every upper line's constant
        at most ``(1 + SLOPE_UP) |l|``; here they are those maxima. One pass serves a row and
        its negation and any number of slope choices."""
        t = self.torch
        splits = splits or {}
        lam = G_abs.expand(batch, -1, -1)
        const = t.zeros(lam.shape[:2], dtype=lam.dtype)
        top = 1.0 + SLOPE_UP
        for i in range(k, -1, -1):
            if self.relu[i] and i < k:
                lo, up = self.layer_bounds(i, splits.get(i))
                # as in backward: active (l >= 0) wins over inactive (u <= 0), e.g. l = u = 0
                dead = (lo < 0.0) & (up <= 0.0)
                unstable = (lo < 0.0) & (up > 0.0)
                const = const + (lam * t.where(unstable, -lo * top, 0.0).unsqueeze(1)).sum(-1)
                lam = lam * t.where(dead, 0.0, top).unsqueeze(1)
            const = const + lam @ self.babs[i]
            lam = lam @ self.Wabs[i]
        return const + (lam * self.x_mag).sum(-1)

    def backward(self, G, h, k: int, *, post: bool, splits: dict | None = None,
                 alpha: dict | None = None, beta: dict | None = None, batch: int = 1,
                 keep_lambda: bool = False, magnitude: bool = False) -> dict:
        """Lower bounds ``(B, R)`` of the rows ``G v - h`` over each domain, where ``v`` is layer
        ``k``'s output (``post``) or pre-activation. ``G``: ``(R, n_k)`` or ``(B, R, n_k)``;
        ``alpha[i]``: ``(B, R, n_i)`` (``None``: the CROWN choice, 1 where ``u > -l``);
        ``beta[i]``: ``(B, R, n_i)``. ``keep_lambda``: also the rows' coefficients on every
        ReLU layer's output and the minimising input corners; ``magnitude``: also ``S``."""
        t = self.torch
        splits = splits or {}
        lam = G.expand(batch, -1, -1) if G.dim() == 2 else G
        const = (-h).expand(lam.shape[0], -1)
        lam_abs: Any = lam.abs() if magnitude else None
        const_abs: Any = const.abs() if magnitude else None
        lambdas: dict = {}
        for i in range(k, -1, -1):
            if self.relu[i] and (i < k or post):
                split = splits.get(i)
                lo, up = self.layer_bounds(i, split)
                active = lo >= 0.0
                inactive = up <= 0.0
                unstable = ~(active | inactive)
                den = t.where(unstable, up - lo, t.ones_like(up))
                slope = t.where(unstable, up / den * (1.0 + SLOPE_UP), t.zeros_like(up))
                a_up = t.where(active, t.ones_like(up), slope).unsqueeze(1)
                c_up = t.where(unstable, -slope * lo, t.zeros_like(up)).unsqueeze(1)
                if alpha is not None and i in alpha:
                    a = alpha[i]
                else:
                    a = (up > -lo).to(lam.dtype).unsqueeze(1)
                a_lo = t.where(active.unsqueeze(1), 1.0,
                               t.where(unstable.unsqueeze(1), a, 0.0))
                if keep_lambda:
                    lambdas[i] = lam.detach()
                pos, neg = lam.clamp(min=0.0), lam.clamp(max=0.0)
                const = const + (neg * c_up).sum(-1)
                coef = pos * a_lo + neg * a_up
                if split is not None and beta is not None:
                    sig = split.to(lam.dtype).unsqueeze(1)
                    coef = coef - beta[i] * sig
                if magnitude:
                    const_abs = const_abs + (lam_abs * c_up.abs()).sum(-1)
                    coef_abs = lam_abs * t.maximum(a_lo, a_up)
                    if split is not None and beta is not None:
                        coef_abs = coef_abs + beta[i] * sig.abs()
            else:
                coef = lam
                coef_abs = lam_abs
            const = const + coef @ self.b[i]
            lam = coef @ self.W[i]
            if magnitude:
                const_abs = const_abs + coef_abs @ self.babs[i]
                lam_abs = coef_abs @ self.Wabs[i]
        lb = const + (lam.clamp(min=0.0) * self.x_lo).sum(-1) + (
            lam.clamp(max=0.0) * self.x_hi).sum(-1)
        out = {"lb": lb}
        if keep_lambda:
            out["lambdas"] = lambdas
            out["corner"] = t.where(lam >= 0.0, self.x_lo, self.x_hi).detach()
        if magnitude:
            out["S"] = const_abs + (lam_abs * self.x_mag).sum(-1) + lb.abs().detach()
        return out


class MixedRows:
    """Rows ``G v - h`` (``(R0, n)``, ``(R0,)``) and, for every group of more than one row (a
    conjunction of an unsafe set: all its rows ``<= 0`` at once), one more row
    ``mu . (G_g v - h_g)`` with ``mu = softmax(logits)`` over the group's rows. Where the
    conjunction holds that row is ``<= 0`` too, so a positive lower bound of it proves the
    conjunction empty, even when no single row's bound is positive (the rows are minimised at
    different points). The mixed row is computed in float64 from ``mu``: its rounding, at most
    ``R0`` units of ``|mu| . (|G| |v| + |h|)``, is covered by ``BOUND_ROUND_REL`` times that
    (``v_mag`` bounds ``|v|``), returned as the row's extra margin."""

    def __init__(self, G, h, group: np.ndarray, v_mag) -> None:
        import torch

        self.G, self.h = G, h
        counts = np.bincount(group)
        multi = [g for g in range(counts.size) if counts[g] > 1]
        self.mask = torch.zeros((len(multi), G.shape[0]), dtype=torch.bool)
        for r, g in enumerate(multi):
            self.mask[r, torch.from_numpy(group == g)] = True
        self.group = np.concatenate([group, np.array(multi, dtype=group.dtype)])
        self.row_mag = (G.abs() @ v_mag + h.abs())
        self.K = len(multi)

    def start(self, batch: int):
        """Logits ``(batch, K, R0)``: equal weights."""
        import torch

        return torch.zeros((batch, self.K, self.G.shape[0]), dtype=self.G.dtype)

    def rows(self, logits, batch: int):
        """``(G_b, h_b, margin)``: ``(B, R0 + K, n)``, ``(B, R0 + K)``, ``(B, R0 + K)``."""
        import torch as t

        dt = logits.dtype  # float32 while searching (CrownNet.search_copy), else float64
        G0, h0 = self.G.to(dt), self.h.to(dt)
        G = G0.expand(batch, -1, -1)
        h = h0.expand(batch, -1)
        zero = t.zeros((batch, self.G.shape[0]), dtype=dt)
        if self.K == 0:
            return G, h, zero
        mu = t.softmax(logits.masked_fill(~self.mask, -t.inf), dim=-1)
        extra = BOUND_ROUND_REL * (mu.abs() @ self.row_mag.to(dt))
        return (t.cat([G, mu @ G0], dim=1), t.cat([h, mu @ h0], dim=1),
                t.cat([zero, extra.detach()], dim=1))


class _Adam:
    """Adam (Kingma & Ba, 2015) on groups of tensors with their own learning rates, maximising
    nothing itself: ``step`` moves every tensor against its ``.grad``. Written here because
    ``torch.optim`` imports torch's compiler stack on first use (seconds, measured 4-13 s)."""

    def __init__(self, groups: list[dict], b1: float = 0.9, b2: float = 0.999,
                 eps: float = 1e-8) -> None:
        self.groups = [(g["params"], g["lr"]) for g in groups]
        self.b1, self.b2, self.eps = b1, b2, eps
        self.m: dict[int, Any] = {}
        self.v: dict[int, Any] = {}
        self.k = 0

    def zero_grad(self) -> None:
        for params, _ in self.groups:
            for p in params:
                p.grad = None

    def step(self) -> None:
        import torch

        self.k += 1
        c1, c2 = 1.0 - self.b1 ** self.k, 1.0 - self.b2 ** self.k
        with torch.no_grad():
            for params, lr in self.groups:
                for p in params:
                    if p.grad is None:
                        continue
                    key = id(p)
                    m = self.m.get(key)
                    if m is None:
                        m = self.m[key] = torch.zeros_like(p)
                        self.v[key] = torch.zeros_like(p)
                    v = self.v[key]
                    m.mul_(self.b1).add_(p.grad, alpha=1.0 - self.b1)
                    v.mul_(self.b2).addcmul_(p.grad, p.grad, value=1.0 - self.b2)
                    p.sub_(lr * (m / c1) / ((v / c2).sqrt() + self.eps))


def optimise(net: CrownNet, G, h, k: int, *, post: bool, steps: int,
             alpha: dict, beta: dict | None = None, splits: dict | None = None,
             open_mask=None, budget: Budget | None = None, keep_lambda: bool = False,
             mixed: MixedRows | None = None, logits=None, lr: float = LR_ALPHA) -> dict:
    """Raise the bounds of :meth:`CrownNet.backward` by ``steps`` Adam steps on ``alpha`` (and
    ``beta``), in place; returns the final sound evaluation (``"sound"``: ``(B, R)`` numpy
    bounds with the rounding margin taken off) with the best values per row, which are left in
    ``alpha``/``beta``. ``open_mask`` ``(B, R)``: the rows whose bounds count in the objective
    (the others are still evaluated); the optimisation stops once every one is positive.
    ``mixed`` with ``logits`` (``(B, K, R0)``, optimised too; the best left in ``"logits"``):
    the rows are ``mixed.rows(logits)`` instead of ``G, h``. ``lr``: the learning rate of
    ``alpha`` and the logits."""
    t = net.torch
    beta = beta if beta is not None else {}
    # the search runs on float32 copies (CrownNet.search_copy); the bound at the end is float64
    fast = net.search_copy()
    dt = fast.dtype
    a_s = {i: a.detach().to(dt).requires_grad_() for i, a in alpha.items()}
    b_s = {i: b.detach().to(dt).requires_grad_() for i, b in beta.items()}
    l_s = None if logits is None else logits.detach().to(dt).requires_grad_()
    G_s = None if G is None else G.to(dt)
    h_s = None if h is None else h.to(dt)
    params = [{"params": list(a_s.values()), "lr": lr}]
    if b_s:
        params.append({"params": list(b_s.values()), "lr": LR_BETA})
    if mixed is not None and mixed.K:
        params.append({"params": [l_s], "lr": lr})
    # nothing to tune, e.g. no ReLU before layer k: the first evaluation is the bound
    tunable = bool(alpha) or bool(beta) or bool(mixed is not None and mixed.K)
    best_a = {i: a.detach().clone() for i, a in a_s.items()}
    best_b = {i: b.detach().clone() for i, b in b_s.items()}
    best_mix = None if l_s is None else l_s.detach().clone()
    best_lb = None
    opt = _Adam(params)

    def rows(Gx, hx, mix):
        if mixed is None:
            return Gx, hx, None
        return mixed.rows(mix, next(iter(alpha.values())).shape[0] if alpha else 1)

    with t.enable_grad():
        for step in range(steps):
            Gs, hs, _ = rows(G_s, h_s, l_s)
            lb = fast.backward(Gs, hs, k, post=post, splits=splits, alpha=a_s,
                               beta=b_s or None)["lb"]
            with t.no_grad():
                if best_lb is None:
                    best_lb = lb.detach().clone()
                    better = t.ones_like(lb, dtype=t.bool)
                else:
                    better = lb > best_lb
                    best_lb = t.where(better, lb, best_lb)
                for i in a_s:
                    best_a[i] = t.where(better.unsqueeze(-1), a_s[i], best_a[i])
                for i in b_s:
                    best_b[i] = t.where(better.unsqueeze(-1), b_s[i], best_b[i])
                if best_mix is not None and mixed is not None and mixed.K:
                    # a mixed row's logits follow that row's best bound
                    gain = better[:, -mixed.K:].unsqueeze(-1)
                    best_mix = t.where(gain, l_s, best_mix)
                still = best_lb <= 0.0 if open_mask is None else open_mask & (best_lb <= 0.0)
                if step == steps - 1 or not bool(still.any()) or not tunable or (
                        budget is not None and budget.expired()):
                    break
            if step == 0:  # huge bounds scaled down: Adam's squared gradients must fit float32
                finite = lb.detach()[t.isfinite(lb.detach())]
                top = float(finite.abs().max()) if finite.numel() else 0.0
                scale = max(1.0, top / OBJECTIVE_MAX)
            objective = (lb if open_mask is None else lb * open_mask) / scale
            opt.zero_grad()
            (-objective.sum()).backward()
            opt.step()
            with t.no_grad():
                for a in a_s.values():
                    a.clamp_(0.0, 1.0)
                for b in b_s.values():
                    b.clamp_(min=0.0)
    f64 = net.dtype
    if best_mix is not None:
        best_mix = best_mix.to(f64)
    with t.no_grad():
        for i in alpha:
            alpha[i] = best_a[i].to(f64).clamp(0.0, 1.0)
        for i in beta:
            beta[i] = best_b[i].to(f64).clamp(min=0.0)
        Gs, hs, extra = rows(G, h, best_mix)
        out = net.backward(Gs, hs, k, post=post, splits=splits, alpha=alpha, beta=beta or None,
                           keep_lambda=keep_lambda, magnitude=True)
        sound = out["lb"] - BOUND_ROUND_REL * out["S"]
        if extra is not None:
            sound = sound - extra
        sound = sound.numpy()
        out["logits"] = best_mix
    out["sound"] = np.where(np.isfinite(sound), sound, -np.inf)
    return out


def alpha_bounds(network: Network, box: Box, initial: Bounds, *, steps: int = ALPHA_STEPS,
                 budget: Budget | None = None, threads: int = 1) -> Bounds:
    """``initial`` tightened layer by layer with optimised ``alpha`` (see the module docstring):
    for every ReLU layer ``i >= 1`` in order, the lower and upper bounds of its unstable
    neurons, each row with its own ``alpha`` for every earlier layer, intersected with the
    bounds it had. Never looser than ``initial``; stops (keeping what is done) when ``budget``
    ends. The output layer is left as it is. ``threads``: torch's threads meanwhile (see
    :func:`torch_threads`). The result's ``method`` is ``"alpha"`` and its ``slopes`` the best
    ``alpha`` of every layer's rows (see :class:`~surrogate.bounds.interval.Bounds`)."""
    import torch

    t0 = time.perf_counter()
    slopes: dict = {}
    lowers = [np.array(a, dtype=np.float64) for a in initial.lower]
    uppers = [np.array(a, dtype=np.float64) for a in initial.upper]
    net = CrownNet(network, box, initial)
    with torch.no_grad(), torch_threads(threads):
        for i in range(1, len(network.layers)):
            if not net.relu[i] or (budget is not None and budget.expired()):
                continue
            idx = np.flatnonzero((lowers[i] < 0.0) & (uppers[i] > 0.0))
            if idx.size == 0:
                continue
            m = idx.size
            G = torch.zeros((2 * m, network.layers[i].n_out), dtype=torch.float64)
            G[np.arange(m), idx] = 1.0
            G[m + np.arange(m), idx] = -1.0
            h = torch.zeros(2 * m, dtype=torch.float64)
            alpha = net.start_alpha(2 * m, below=i)
            out = optimise(net, G, h, i, post=False, steps=steps, alpha=alpha, budget=budget)
            slopes[i] = (idx, {j: a[0].numpy().astype(np.float32) for j, a in alpha.items()})
            sound = out["sound"][0]
            lo_new = np.maximum(lowers[i][idx], sound[:m])
            up_new = np.minimum(uppers[i][idx], -sound[m:])
            lowers[i][idx], uppers[i][idx] = lo_new, up_new
            net.lo_b[i] = torch.from_numpy(lowers[i])
            net.up_b[i] = torch.from_numpy(uppers[i])
    return Bounds(tuple(lowers), tuple(uppers), "alpha",
                  initial.time_s + time.perf_counter() - t0, slopes)


def box_alpha_bounds(network: Network, G: np.ndarray, h: np.ndarray, lo: np.ndarray,
                     hi: np.ndarray, lowers: list[np.ndarray], uppers: list[np.ndarray], *,
                     steps: int, lr: float = LR_ALPHA, budget: Budget | None = None,
                     mu0: np.ndarray | None = None) -> np.ndarray:
    """For a conjunction ``G y <= h`` (``y`` the network's output) and boxes ``(B, n)`` with
    sound pre-activation bounds ``(B, n_i)`` per layer: a sound lower bound per box of the
    conjunction's violation, the best of its rows' and (for several rows) its mixed row's
    (:class:`MixedRows`) bounds, with ``alpha`` of every ReLU layer optimised per box and row
    by ``steps`` Adam steps (learning rate ``lr``; the mixing weights from ``mu0`` ``(B, R)``,
    default equal). A positive value proves the conjunction empty on that box. With the
    pre-activation bounds fixed, the best ``alpha`` (and mixing weights) reach the bound of the
    LP relaxation (the triangle relaxation's dual picks, for each neuron whose coefficient is
    positive, a convex combination of its two lower lines: ``alpha``)."""
    import torch

    B = lo.shape[0]
    net = CrownNet.of_boxes(network, lo, hi, lowers, uppers)
    Gt = torch.from_numpy(np.atleast_2d(np.asarray(G, dtype=np.float64)))
    ht = torch.from_numpy(np.atleast_1d(np.asarray(h, dtype=np.float64)))
    R = Gt.shape[0]
    mag = np.max(np.maximum(np.abs(lowers[-1]), np.abs(uppers[-1])), axis=0)
    mixed = MixedRows(Gt, ht, np.zeros(R, dtype=np.int64), torch.from_numpy(mag))
    rows = R + mixed.K
    last = len(network.layers) - 1
    logits = mixed.start(B)
    if mu0 is not None and mixed.K:
        logits[:, 0, :] = torch.from_numpy(np.log(np.maximum(np.asarray(mu0, dtype=np.float64),
                                                             1e-9)))
    with torch.no_grad():
        alpha = net.start_alpha(rows)
        out = optimise(net, Gt, ht, last, post=True, steps=steps, alpha=alpha, budget=budget,
                       mixed=mixed, logits=logits, lr=lr)
    return np.max(out["sound"], axis=1)
