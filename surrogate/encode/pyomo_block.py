"""The public embedding API: a (pruned) network as MILP constraints in any Pyomo model.

>>> import pyomo.environ as pyo
>>> from surrogate import Box, add_network
>>> m = pyo.ConcreteModel()
>>> nn = add_network(m, network, Box(lower, upper))       # a NetworkEmbedding; m.nn is its block
>>> m.obj = pyo.Objective(expr=nn.output[3], sense=pyo.maximize)
>>> pyo.SolverFactory("appsi_highs").solve(m)
>>> nn.get_error()                                         # max |MILP outputs - forward pass|

The block holds exactly the rows our own solver path builds (:mod:`surrogate.encode.network`:
bounds from :mod:`surrogate.bounds`, symbolic by default; no binary for a stable neuron, no
variable for a dead or unneeded neuron, no term for a zero weight), written from the sparse
:class:`~surrogate.encode.matrix.MatrixModel` -- the same model, through Pyomo. It is a plain
Pyomo block: no OMLT is involved (stock OMLT, the benchmark's baseline, is in the internal
:mod:`surrogate.encode.stock`).

The input set is enforced inside the block (bounds on ``block.inputs``; an L1 ball as linear
constraints), because the big-M constants are only valid on it.

User variables (``input_vars=``, ``output_vars=``) are *linked*, not used in place: the block keeps
its own ``inputs``/``outputs`` (which carry the input set and the output bounds) and adds
``block.input_link[i]: input_vars[i] == block.inputs[i]`` (``output_link`` likewise). Your
variables keep their own bounds and domains (the model then asks for both), nothing of yours is
modified, and deleting the block removes the network cleanly. HiGHS's presolve substitutes the
links away.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any

import numpy as np
import pyomo.environ as pyo
from pyomo.core.base.block import BlockData
from pyomo.core.base.var import IndexedVar, VarData
from pyomo.core.expr.numeric_expr import LinearExpression

from surrogate.encode.matrix import MatrixModel
from surrogate.encode.network import encode_over, resolve_bounds
from surrogate.errors import InputError
from surrogate.network.spec import Network
from surrogate.sets import Box, InputSet, L1Ball

__all__ = ["NetworkEmbedding", "STATS_KEYS", "add_network"]

#: The keys of :attr:`NetworkEmbedding.stats`: the model's size (as
#: :meth:`~surrogate.encode.matrix.MatrixModel.size` and ``RunResult.size`` report it) and the
#: neuron counts (as ``RunResult.neurons`` reports them: :meth:`NetworkEncoding.stats
#: <surrogate.encode.network.NetworkEncoding.stats>` and ``relus``, the network's ReLU count).
STATS_KEYS = (
    "variables", "binaries", "constraints", "nonzeros",
    "unstable", "active", "inactive", "unneeded", "relus",
)


@dataclass(frozen=True, eq=False, repr=False)
class NetworkEmbedding:
    """A network embedded in a Pyomo model by :func:`add_network`.

    ``block``: the Pyomo block (``parent.<name>``) with the network's own ``inputs[i]`` and
    ``outputs[k]`` (flattened, C order), the auxiliary variables ``aux`` and the rows ``rows``.
    ``input`` / ``output``: the variables to write your model with -- yours when you passed
    ``input_vars`` / ``output_vars`` (linked to the block's by ``block.input_link`` /
    ``block.output_link``), else ``block.inputs`` / ``block.outputs``.
    ``stats``: the size of the encoding (:data:`STATS_KEYS`; link rows not included).
    ``bounds``: the pre-activation bounds the big-M constants come from.
    """

    block: Any
    input: Any
    output: Any
    network: Network
    input_set: InputSet
    bounds: Any
    stats: Mapping[str, int]
    bounds_time_s: float
    build_time_s: float
    _input_vars: tuple[Any, ...] = field(default=())
    _output_vars: tuple[Any, ...] = field(default=())

    @property
    def inputs_linked(self) -> bool:
        """True when :attr:`input` are the caller's variables, linked to ``block.inputs``."""
        return self.input is not self.block.inputs

    @property
    def outputs_linked(self) -> bool:
        return self.output is not self.block.outputs

    @property
    def input_values(self) -> np.ndarray:
        """Current values of :attr:`input` (after a solve: the solution), flattened, float64."""
        return _values(self._input_vars, "input")

    @property
    def output_values(self) -> np.ndarray:
        """Current values of :attr:`output`, flattened, float64."""
        return _values(self._output_vars, "output")

    def get_error(self, reference: Network | None = None) -> float:
        """``max_k |output_k - reference.forward(input)_k|`` at the current values of the input and
        output variables (after a solve: the solution).

        ``reference`` defaults to the embedded network: then the result is the MILP's own error
        (solver tolerances; a correct encoding gives ~1e-9). Pass another network with the same
        shape (e.g. the dense network when a pruned one is embedded) to see how far the solution
        is from what that network computes at the same input."""
        net = self.network if reference is None else reference
        if not isinstance(net, Network):
            raise InputError(f"reference must be a surrogate Network, got {type(net).__name__}")
        if (net.n_inputs, net.n_outputs) != (self.network.n_inputs, self.network.n_outputs):
            raise InputError(
                f"reference takes {net.n_inputs} inputs and gives {net.n_outputs} outputs, the "
                f"embedded network {self.network.n_inputs} and {self.network.n_outputs}; "
                "compare against a network of the same shape"
            )
        x, y = self.input_values, self.output_values
        return float(np.max(np.abs(y - net.forward(x))))

    def summary(self) -> str:
        s = self.stats
        name = self.network.name or "network"
        lines = [
            f"{name} in block {self.block.name!r}: {self.network.n_inputs} inputs, "
            f"{self.network.n_outputs} outputs, {self.network.nonzeros} nonzero weights "
            f"(sparsity {self.network.sparsity:.2f})",
            f"  variables {s['variables']} (binaries {s['binaries']}), constraints "
            f"{s['constraints']}, nonzeros {s['nonzeros']}",
            f"  neurons: {s['unstable']} unstable, {s['active']} active, {s['inactive']} inactive, "
            f"{s['unneeded']} unneeded (of {s['relus']} ReLUs)",
            f"  bounds: {getattr(self.bounds, 'method', 'given')} ({self.bounds_time_s:.3f} s); "
            f"build {self.build_time_s:.3f} s",
            "  input: " + ("your variables, linked (block.input_link)" if self.inputs_linked
                           else "block.inputs")
            + "; output: " + ("your variables, linked (block.output_link)" if self.outputs_linked
                              else "block.outputs"),
        ]
        return "\n".join(lines)

    def print_stats(self, file: IO[str] | None = None) -> None:
        """Print :meth:`summary` (to ``file``, default standard output)."""
        print(self.summary(), file=file if file is not None else sys.stdout)

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"NetworkEmbedding(block={self.block.name!r}, inputs={self.network.n_inputs}, "
            f"outputs={self.network.n_outputs}, variables={s['variables']}, "
            f"binaries={s['binaries']}, constraints={s['constraints']})"
        )


def _values(variables: Sequence[Any], what: str) -> np.ndarray:
    out = np.empty(len(variables))
    for k, v in enumerate(variables):
        if v.value is None:
            raise InputError(
                f"{what} variable {v.name} has no value: solve the model (and load the solution) "
                "first, or fix the variables"
            )
        out[k] = v.value
    return out


def write_rows(block: pyo.Block, model: MatrixModel, col_vars: list[Any], name: str = "rows") -> None:
    """Add every row of ``model`` to ``block`` as a Pyomo constraint over ``col_vars``."""
    A = model.A
    indptr, indices, data = A.indptr, A.indices, A.data
    lo = [None if not np.isfinite(v) else float(v) for v in model.row_lower]
    hi = [None if not np.isfinite(v) else float(v) for v in model.row_upper]

    def rule(_b: Any, r: int) -> Any:
        s, e = indptr[r], indptr[r + 1]
        expr = LinearExpression(
            constant=0.0,
            linear_coefs=data[s:e].tolist(),
            linear_vars=[col_vars[j] for j in indices[s:e]],
        )
        if lo[r] is not None and lo[r] == hi[r]:
            return expr == lo[r]
        return (lo[r], expr, hi[r])

    block.add_component(name, pyo.Constraint(range(model.n_rows), rule=rule))


@contextmanager
def _gc_paused() -> Iterator[None]:
    # Pyomo creates several objects per term; the cyclic garbage collector would scan the
    # growing heap again and again (about 80 % of the build time on a 784-512-512-10 net).
    # Nothing built here is garbage, so collection is paused and the caller's state restored.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_set(network: Network, input_set: object) -> InputSet:
    if not isinstance(input_set, Box | L1Ball):
        raise InputError(
            "input_set must be a surrogate.sets.Box or L1Ball with finite bounds for every input, "
            f"or a (lower, upper) pair, got {type(input_set).__name__}"
        )
    if input_set.dim != network.n_inputs:
        raise InputError(
            f"the input set has {input_set.dim} entries, the network takes {network.n_inputs}"
        )
    return input_set


def _resolve_set(network: Network, input_set: object, user_in: tuple[Any, ...] | None) -> InputSet:
    """The input set: as given, a ``(lower, upper)`` pair (scalars broadcast), or -- when it is
    ``None`` -- the bounds of the caller's input variables."""
    n = network.n_inputs
    if input_set is None:
        if user_in is None:
            raise InputError(
                "no input set: pass input_set (a Box, an L1Ball or a (lower, upper) pair), or "
                "input_vars with finite bounds"
            )
        lo, hi = np.empty(n), np.empty(n)
        for i, v in enumerate(user_in):
            if v.lb is None or v.ub is None:
                side = "lower" if v.lb is None else "upper"
                raise InputError(
                    f"input_set is None and input variable {v.name} has no {side} bound; give "
                    "every input variable finite bounds or pass input_set=Box(lower, upper)"
                )
            lo[i], hi[i] = float(v.lb), float(v.ub)
        return Box(lo, hi)
    if isinstance(input_set, tuple) and len(input_set) == 2:
        lo_, hi_ = (np.asarray(v, dtype=np.float64) for v in input_set)
        if lo_.ndim == 0:
            lo_ = np.full(n, float(lo_))
        if hi_.ndim == 0:
            hi_ = np.full(n, float(hi_))
        input_set = Box(lo_, hi_)
    return _check_set(network, input_set)


def _user_vars(parent: Any, variables: object, n: int, arg: str, unit: str) -> tuple[Any, ...]:
    """The caller's variables as a flat tuple of Pyomo ``VarData`` (checked against the network)."""
    example = f"e.g. m.{unit[0]} = pyo.Var(range({n}))"
    if isinstance(variables, IndexedVar):
        if not variables.is_constructed():
            raise InputError(f"{arg} is not part of a model yet; add it to the model first ({example})")
        if not _ordered(variables.index_set()):
            raise InputError(f"{arg} is indexed by an unordered set; index it by an ordered set ({example})")
        items = list(variables.values())
    elif isinstance(variables, VarData):
        items = [variables]
    elif isinstance(variables, np.ndarray):
        items = list(variables.reshape(-1))
    elif isinstance(variables, Sequence) and not isinstance(variables, str):
        items = list(variables)
    else:
        raise InputError(
            f"{arg} must be a Pyomo Var (indexed, one entry per network {unit}) or a list of Pyomo "
            f"variables, got {type(variables).__name__}"
        )
    for k, v in enumerate(items):
        if not isinstance(v, VarData):
            raise InputError(
                f"{arg}[{k}] is a {type(v).__name__}, not a Pyomo variable; pass variables "
                f"(e.g. m.{unit[0]}[{k}]), not values or expressions"
            )
    if len(items) != n:
        raise InputError(
            f"{arg} has {len(items)} variables, the network has {n} {unit}s; pass one variable per "
            f"{unit} (flattened in C order), {example}"
        )
    root = parent.model()
    for k, v in enumerate(items):
        if v.model() is not root:
            raise InputError(
                f"{arg}[{k}] ({v.name}) is not a variable of the model the network is added to; "
                "create it on that model"
            )
    return tuple(items)


def _ordered(index_set: Any) -> bool:
    """Whether iterating ``index_set`` gives a defined order: an ordered set, or a product of
    ordered sets (``pyo.Var(range(8), range(8))``: C order), which Pyomo calls unordered."""
    if index_set.isordered():
        return True
    subsets = list(index_set.subsets(expand_all_set_operators=False))
    return len(subsets) > 1 and all(_ordered(s) for s in subsets)


def _check_distinct(user_in: tuple[Any, ...] | None, user_out: tuple[Any, ...] | None) -> None:
    if user_out is None:
        return
    seen: dict[int, int] = {}
    for k, v in enumerate(user_out):
        if id(v) in seen:
            raise InputError(
                f"output_vars[{k}] and output_vars[{seen[id(v)]}] are the same variable ({v.name}); "
                "give every output its own variable"
            )
        seen[id(v)] = k
    for i, v in enumerate(user_in or ()):
        if id(v) in seen:
            raise InputError(
                f"input_vars[{i}] is also output_vars[{seen[id(v)]}] ({v.name}); an input and an "
                "output need different variables"
            )


def add_network(
    parent: Any,
    network: Network,
    input_set: InputSet | tuple[Any, Any] | None = None,
    *,
    input_vars: Any = None,
    output_vars: Any = None,
    bounds: Any = "symbolic",
    name: str = "nn",
) -> NetworkEmbedding:
    """Add ``network`` to the Pyomo model or block ``parent`` as a block named ``name``.

    ``input_set``: where the inputs may lie, enforced in the block (the big-M constants are only
    valid there): a :class:`~surrogate.sets.Box`, an :class:`~surrogate.sets.L1Ball`, a
    ``(lower, upper)`` pair (scalars apply to every input), or ``None`` to take the bounds of
    ``input_vars`` (all finite).

    ``input_vars`` / ``output_vars``: your own variables for the network's inputs / outputs: an
    indexed Pyomo ``Var`` (its index set's order = the network's flattened C order), a list or
    numpy array of Pyomo variables, one per input / output, on the same model. They are linked to
    the block's own variables by equality constraints (see the module docstring). Default: use
    ``embedding.input`` / ``embedding.output`` (the block's).

    ``bounds``: ``"interval"``, ``"symbolic"`` (default), ``"lp"`` or a precomputed
    :class:`surrogate.bounds.Bounds` of ``network`` on ``input_set``.

    Returns a :class:`NetworkEmbedding`. Raises :class:`~surrogate.errors.InputError` (nothing is
    added to ``parent`` then) on anything it cannot use, with the fix in the message.
    """
    if not isinstance(network, Network):
        raise InputError(f"network must be a surrogate Network, got {type(network).__name__}")
    if not isinstance(parent, BlockData):
        raise InputError(
            f"the model must be a Pyomo model or block (e.g. pyo.ConcreteModel()), got "
            f"{type(parent).__name__}"
        )
    if not isinstance(name, str) or not name:
        raise InputError(f"name must be a non-empty string, got {name!r}")
    if parent.component(name) is not None:
        raise InputError(f"the model already has a component named {name!r}; pass another name=")
    if hasattr(parent, name):
        raise InputError(f"{name!r} is a reserved attribute of a Pyomo block; pass another name=")
    user_in = None if input_vars is None else _user_vars(
        parent, input_vars, network.n_inputs, "input_vars", "input")
    user_out = None if output_vars is None else _user_vars(
        parent, output_vars, network.n_outputs, "output_vars", "output")
    _check_distinct(user_in, user_out)
    the_set = _resolve_set(network, input_set, user_in)

    t0 = time.perf_counter()
    b = resolve_bounds(network, the_set, bounds)
    bounds_time_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    with _gc_paused():
        rows = encode_over(network, the_set, b)
        cols, enc = rows.inputs, rows.encoding
        model = rows.builder.build()
        blk = pyo.Block(concrete=True)
        parent.add_component(name, blk)
        try:
            _write_block(blk, model, cols.x, enc.output_cols, user_in, user_out)
        except BaseException:
            parent.del_component(blk)
            raise
    build_time_s = time.perf_counter() - t0

    stats = {**model.size(), **enc.stats(), "relus": network.relu_count()}
    return NetworkEmbedding(
        block=blk,
        input=blk.inputs if user_in is None else _as_given(input_vars, user_in),
        output=blk.outputs if user_out is None else _as_given(output_vars, user_out),
        network=network,
        input_set=the_set,
        bounds=b,
        stats=MappingProxyType({k: int(stats[k]) for k in STATS_KEYS}),
        bounds_time_s=bounds_time_s,
        build_time_s=build_time_s,
        _input_vars=user_in if user_in is not None else tuple(blk.inputs.values()),
        _output_vars=user_out if user_out is not None else tuple(blk.outputs.values()),
    )


def _as_given(variables: Any, flat: tuple[Any, ...]) -> Any:
    """The caller's variables as they passed them (a Pyomo Var, a numpy array), a list as a tuple."""
    return variables if isinstance(variables, IndexedVar | VarData | np.ndarray) else flat


def _write_block(
    blk: Any,
    model: MatrixModel,
    in_cols: np.ndarray,
    out_cols: np.ndarray,
    user_in: tuple[Any, ...] | None,
    user_out: tuple[Any, ...] | None,
) -> None:
    """Every column of ``model`` as a variable of ``blk`` (inputs, outputs, aux), every row as a
    constraint, and the links to the caller's variables."""
    lb, ub, integer = model.col_lower, model.col_upper, model.integer

    def col_bounds(cols: np.ndarray) -> Any:
        return lambda _b, k: (float(lb[cols[k]]), float(ub[cols[k]]))

    col_vars: list[Any] = [None] * model.n_cols
    blk.inputs = pyo.Var(range(in_cols.size), bounds=col_bounds(in_cols))
    blk.outputs = pyo.Var(range(out_cols.size), bounds=col_bounds(out_cols))
    for i, j in enumerate(in_cols):
        col_vars[j] = blk.inputs[i]
    for k, j in enumerate(out_cols):
        col_vars[j] = blk.outputs[k]
    aux = np.array([j for j in range(model.n_cols) if col_vars[j] is None], dtype=np.int64)
    blk.aux = pyo.Var(
        range(aux.size),
        within=lambda _b, k: pyo.Binary if integer[aux[k]] else pyo.Reals,
        bounds=col_bounds(aux),
    )
    names = model.col_names
    blk.aux_names = {k: names[aux[k]] for k in range(aux.size)} if names else {}
    for k, j in enumerate(aux):
        col_vars[j] = blk.aux[k]
    write_rows(blk, model, col_vars, name="rows")
    if user_in is not None:
        blk.input_link = pyo.Constraint(range(in_cols.size), rule=lambda b, i: user_in[i] == b.inputs[i])
    if user_out is not None:
        blk.output_link = pyo.Constraint(range(out_cols.size), rule=lambda b, k: user_out[k] == b.outputs[k])
