"""Pruning: one registry (:func:`apply`), many methods (see :func:`available`)."""

from surrogate.prune.registry import PruneReport, PruneResult, apply, available, register

__all__ = ["PruneReport", "PruneResult", "apply", "available", "register"]
