"""Progressive magnitude pruning during one training run (Qureshi et al., arXiv 2606.12278).

Training starts from the given network's weights. Over the ``T`` optimizer steps of the run the
target sparsity of every layer rises on a schedule between steps ``t0 = start_frac * T`` and
``t1 = end_frac * T``, with ``u = clip((t - t0) / (t1 - t0), 0, 1)``:

* ``linear``: ``s(t) = s_i + (s_f - s_i) u`` (with ``s_i = 0`` this is ``s_f * u``, the paper's);
* ``cubic`` (Zhu & Gupta 2017): ``s(t) = s_f + (s_i - s_f) (1 - u)^3``.

Every ``mask_every`` steps from ``t0`` (and at ``t1``) each layer keeps its
``n - round(s(t) n)`` largest-magnitude weights *among those still active*, so masks are monotone
(a pruned weight never returns). Masks multiply gradients and weights at every step. At ``t1`` the
schedule reaches ``s_f``: every layer (output layer included) ends with exactly
``round(s_f n)`` zero weights; the steps after ``t1`` train the sparse network. Biases are not
pruned (unstructured method).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.prune.checks import (
    check_float,
    check_int,
    check_options,
    check_sparsity,
    require_data,
)
from surrogate.prune.finetune import (
    from_module,
    masked_sgd_step,
    one_thread,
    to_module,
    torch_masks,
)
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import register

__all__ = ["ProgressiveHistory", "progressive_prune", "schedule_sparsity", "update_steps"]

SCHEDULES = ("linear", "cubic")
OPTIONS = (
    "epochs",
    "lr",
    "momentum",
    "batch_size",
    "schedule",
    "initial_sparsity",
    "start_frac",
    "end_frac",
    "mask_every",
    "seed",
)


@dataclass
class ProgressiveHistory:
    """What happened at each mask update: the step, the scheduled sparsity, the number of active
    weights per layer, the masks themselves and the last mini-batch loss before the update."""

    steps: list[int] = field(default_factory=list)
    sparsity: list[float] = field(default_factory=list)
    active: list[list[int]] = field(default_factory=list)
    masks: list[list[np.ndarray]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def schedule_sparsity(
    t: int, t0: int, t1: int, final: float, initial: float = 0.0, schedule: str = "linear"
) -> float:
    """The scheduled sparsity at step ``t`` (see the module docstring); ``final`` at ``t >= t1``."""
    u = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
    if u >= 1.0:
        return final
    if schedule == "linear":
        return initial + (final - initial) * u
    return final + (initial - final) * (1.0 - u) ** 3


def update_steps(t0: int, t1: int, every: int) -> list[int]:
    """Mask update steps: ``t0, t0 + every, ...`` below ``t1``, then ``t1`` itself."""
    return sorted(set(range(t0, t1, every)) | {t1})


def _shrink_mask(weight: np.ndarray, mask: np.ndarray, keep: int) -> np.ndarray:
    """Keep the ``keep`` largest ``|weight|`` among ``mask`` (ties: lower flat index first)."""
    score = np.where(mask, np.abs(weight), -1.0).ravel()
    order = np.argsort(-score, kind="stable")
    new = np.zeros(score.size, dtype=bool)
    new[order[:keep]] = True
    return new.reshape(weight.shape) & mask


def _check_run(
    schedule: object, start_frac: float, end_frac: float, initial: float, final: float
) -> None:
    if schedule not in SCHEDULES:
        raise InputError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not 0.0 <= start_frac < end_frac <= 1.0:
        raise InputError(
            f"need 0 <= start_frac < end_frac <= 1, got start_frac={start_frac}, "
            f"end_frac={end_frac}"
        )
    if initial > final:
        raise InputError(
            f"initial_sparsity {initial} exceeds the target sparsity {final}; masks only shrink"
        )


def progressive_prune(
    network: Network,
    sparsity: float,
    data: tuple[np.ndarray, np.ndarray] | None,
    *,
    epochs: int = 10,
    lr: float = 1e-2,
    momentum: float = 0.9,
    batch_size: int = 64,
    schedule: str = "linear",
    initial_sparsity: float = 0.0,
    start_frac: float = 0.0,
    end_frac: float = 0.75,
    mask_every: int = 10,
    seed: int = 0,
    masks: Masks | None = None,
    return_history: bool = False,
) -> MaskedNetwork | tuple[MaskedNetwork, ProgressiveHistory]:
    """Train ``network`` on ``data`` for ``epochs`` epochs (SGD) while pruning it to ``sparsity``.

    Returns the trained weights with their final masks (and the :class:`ProgressiveHistory` when
    ``return_history``). Entries masked by ``masks`` stay masked (and count). Deterministic for a
    given ``seed``.
    """
    import torch

    sparsity = check_sparsity(sparsity)
    x, y = require_data("progressive", data, network)
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    mask_every = check_int("mask_every", mask_every, 1)
    lr = check_float("lr", lr, 0.0)
    momentum = check_float("momentum", momentum, 0.0, 1.0)
    initial = check_float("initial_sparsity", initial_sparsity, 0.0, 1.0)
    start_frac = check_float("start_frac", start_frac, 0.0, 1.0)
    end_frac = check_float("end_frac", end_frac, 0.0, 1.0)
    _check_run(schedule, start_frac, end_frac, initial, sparsity)

    steps_per_epoch = -(-len(y) // batch_size)
    total = epochs * steps_per_epoch
    t0, t1 = int(round(start_frac * total)), int(round(end_frac * total))
    if t1 <= t0:
        raise InputError(
            f"the pruning window [{t0}, {t1}) of a {total}-step run is empty; widen "
            "start_frac/end_frac or train more epochs"
        )
    updates = set(update_steps(t0, t1, mask_every))
    start = apply_masks(network, masks)
    sizes = [layer.weight.size for layer in network.layers]
    weight_masks = list(start.masks.weight)
    history = ProgressiveHistory()

    def current_masks() -> Masks:
        return Masks(tuple(weight_masks), start.masks.bias)  # biases are not pruned

    with one_thread():
        model, linears = to_module(start.network)
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        gen = torch.Generator().manual_seed(int(seed))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        tmasks = torch_masks(current_masks())
        loss = float("nan")

        def update(t: int) -> None:
            nonlocal tmasks
            s = schedule_sparsity(t, t0, t1, sparsity, initial, schedule)
            for i, lin in enumerate(linears):
                keep = sizes[i] - int(round(s * sizes[i]))
                weight_masks[i] = _shrink_mask(lin.weight.detach().numpy(), weight_masks[i], keep)
            tmasks = torch_masks(current_masks())
            with torch.no_grad():
                for lin, (wm, _) in zip(linears, tmasks, strict=True):
                    lin.weight.mul_(wm)
            history.steps.append(t)
            history.sparsity.append(s)
            history.active.append([int(m.sum()) for m in weight_masks])
            history.masks.append([m.copy() for m in weight_masks])
            history.losses.append(loss)

        t = 0
        for _ in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            for i in range(0, len(y), batch_size):
                if t in updates:
                    update(t)
                idx = order[i : i + batch_size]
                loss = masked_sgd_step(model, linears, opt, tmasks, xt[idx], yt[idx])
                t += 1
        if t1 == total:
            update(total)
        pruned = MaskedNetwork(from_module(linears, network), current_masks())
    return (pruned, history) if return_history else pruned


@register(
    "progressive",
    "progressive magnitude pruning in one training run, linear/cubic schedule, needs data "
    "(Qureshi et al., arXiv 2606.12278)",
)
def progressive(
    network: Network,
    sparsity: float,
    *,
    data: object = None,
    masks: Masks | None = None,
    **options: object,
) -> MaskedNetwork:
    """Registry entry of :func:`progressive_prune` (options: see there)."""
    check_options("pruning method 'progressive'", options, OPTIONS)
    # return_history is not among the options, so the result is a MaskedNetwork
    return cast(
        MaskedNetwork,
        progressive_prune(network, sparsity, data, masks=masks, **options),  # type: ignore[arg-type]
    )
