"""Pruning: one registry (:func:`apply`), many methods (see :func:`available`), masks as data
(:class:`Masks`, :func:`apply_masks`, :class:`MaskedNetwork`) and the one sparsity rule
(:func:`check_sparsity`)."""

from surrogate.prune.checks import check_sparsity
from surrogate.prune.masks import MaskedNetwork, Masks, apply_masks
from surrogate.prune.registry import PruneReport, PruneResult, apply, available, register

__all__ = [
    "MaskedNetwork",
    "Masks",
    "PruneReport",
    "PruneResult",
    "apply",
    "apply_masks",
    "available",
    "check_sparsity",
    "register",
]
