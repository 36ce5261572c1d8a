"""Campaign specifications: a sweep file (TOML) or a VNN-COMP ``instances.csv``.

A **sweep** (``problems/*.toml``) is the cross product

    networks x (dense + methods x nonzero sparsities) x problem instances x solver seeds

where the dense network (sparsity ``0.0``) is run once per (network, instance, seed), whatever the
methods: its MILP does not depend on the pruning method. Format::

    [sweep]
    name = "digits-l1"
    time_limit_s = 10                  # solver seconds per run (> 0)
    networks = ["digits-2x32"]         # shipped names, .onnx paths (relative to the file) or
                                       # "random:64-50-50-1:seed=50" (PyTorch-default-init MLP)
    methods = ["magnitude"]            # registered pruning methods
    sparsities = [0.0, 0.5, 0.8]       # in [0, 1); 0.0 = the dense network
    seeds = [0]                        # HiGHS random seeds
    bounds = "symbolic"                # optional: interval | symbolic | lp
    pipelines = ["ours"]               # optional: ours | stock-omlt | highs:NAME (see
                                       # surrogate.bench.pipelines); one task per pipeline
    pruned_pipelines = ["ours"]        # optional: the pipelines that also run the pruned
                                       # configurations (default: all of them)
    warm_start = false                 # optional: MILPs start cold (the paper's setting);
                                       # default: from x0 / the box centre

    [problem]
    kind = "robustness"                # digits test images as x0
    norm = "l1"                        # l1 | linf
    eps = 5.0                          # a number or a list of numbers, or a table of them
                                       # by norm: eps = { linf = 0.05, l1 = 2.0 } (no 'norm')
    target = "top2"                    # top2 | any | class index
    images = [0, 1, 2, 3]              # digits test-split indices
    # or, instead of eps: eps_uniform = [4.5, 5.5]   one radius per image from U(a, b), the
    #                                   same for every network and seed
    # and, instead of the digits images:
    # centres = "../../shared/bench/vnncomp/mnist_fc/vnnlib_2022"   (relative to this file)
    #                                   the distinct images the .vnnlib properties there are
    #                                   centred on (surrogate.vnnlib.images); images index them
    stop_on_success = true             # optional: stop a run at its first dense adversarial

    # or
    [problem]
    kind = "maximize"                  # max f_k(x) over the box [lower, upper]^n
    outputs = [0]
    minimize = false                   # optional
    lower = 0.0                        # optional
    upper = 1.0                        # optional

    # or
    [problem]
    kind = "build"                     # time the MILP build of each network (no solve)
    lower = 0.0                        # optional: the input box
    upper = 1.0                        # optional
    repeats = 3                        # optional: timings per task (the median is reported)
                                       # (time_limit_s is optional for build sweeps)

    [prune]                            # optional
    data = "digits"                    # pass the digits training split to data-driven methods
    [prune.options.random]             # optional keyword options per method
    seed = 0
    # a method listed as "magnitude+finetune" runs inside finetuning with rewinding on the
    # digits training split (needs data = "digits"; its time counts as pruning time):
    # [prune.options."magnitude+finetune"]
    # finetune = { lr = 0.03, epochs_per_round = 20, final_epochs = 20 }

An **instances.csv** (VNN-COMP layout) has rows ``onnx,vnnlib,timeout_s`` with paths relative to
the csv's folder; each row is one instance for :func:`surrogate.app.verify.verify_instance`.

Both kinds take a list of **pipelines** (:mod:`surrogate.bench.pipelines`): every task runs once
per pipeline, ``ours`` (the library) by default.
"""

from __future__ import annotations

import csv
import math
import random
import re
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from surrogate.bench.pipelines import DEFAULT as DEFAULT_PIPELINE
from surrogate.bench.pipelines import check_pipelines
from surrogate.errors import InputError, ModelFileError, ParseError
from surrogate.prune import available
from surrogate.prune.checks import check_sparsity
from surrogate.prune.finetune import FINETUNE_OPTIONS
from surrogate.prune.registry import FINETUNED
from surrogate.zoo import list_models

__all__ = [
    "BOUNDS_METHODS",
    "CampaignSpec",
    "InstanceRow",
    "InstancesSpec",
    "ProblemSpec",
    "SweepSpec",
    "load_spec",
    "parse_instances_csv",
    "parse_instances_folder",
    "parse_sweep",
    "parse_random_name",
    "number_label",
]

BOUNDS_METHODS = ("interval", "symbolic", "lp")
_SWEEP_KEYS = ("name", "time_limit_s", "networks", "methods", "sparsities", "seeds", "bounds",
               "pipelines", "pruned_pipelines", "warm_start")
_SWEEP_REQUIRED = ("name", "networks", "sparsities")
_ROBUST_KEYS = ("kind", "norm", "eps", "eps_uniform", "target", "images", "centres",
                "stop_on_success")
_MAX_KEYS = ("kind", "outputs", "minimize", "lower", "upper")
_BUILD_KEYS = ("kind", "lower", "upper", "repeats")
_PRUNE_KEYS = ("data", "options")
_RANDOM_RE = re.compile(r"^random:(\d+(?:-\d+)+):seed=(\d+)$")


def number_label(v: float) -> str:
    """``v`` as written in task keys: ``f"{v:g}"`` (``0.5``, ``5``) when that reads back as ``v``,
    else the exact ``repr`` (``0.5000001``), so two different values never share a key."""
    short = f"{v:g}"
    return short if float(short) == v else repr(float(v))


@dataclass(frozen=True)
class ProblemSpec:
    """What to solve on every network of a sweep (see the module docstring)."""

    kind: str  # "robustness" | "maximize" | "build"
    norm: str = "l1"
    eps: tuple[float, ...] = ()
    target: str | int = "top2"
    images: tuple[int, ...] = ()
    stop_on_success: bool = True
    outputs: tuple[int, ...] = ()
    minimize: bool = False
    lower: float = 0.0
    upper: float = 1.0
    balls: tuple[tuple[str, float], ...] = ()  # (norm, eps) pairs: eps given as a table by norm
    repeats: int | None = None  # build: timings per task
    centres: str | None = None  # robustness: a folder of .vnnlib files whose images are the x0s
    eps_uniform: tuple[float, float] | None = None  # robustness: eps ~ U(a, b), one per image

    def eps_of(self, image: int) -> float:
        """The radius of ``image`` under ``eps_uniform``: drawn once per image index (the same on
        every network, seed and machine: Python's Mersenne Twister seeded by the index)."""
        assert self.eps_uniform is not None
        a, b = self.eps_uniform
        return random.Random(int(image)).uniform(a, b)

    def instances(self) -> list[tuple[str, dict[str, Any]]]:
        """``(instance id, parameters)`` of every problem instance, in a fixed order."""
        if self.kind == "robustness" and self.balls:
            return [
                (f"img={i}:{norm}={number_label(e)}", {"image": i, "eps": e, "norm": norm})
                for i in self.images
                for norm, e in self.balls
            ]
        if self.kind == "robustness" and self.eps_uniform is not None:
            a, b = self.eps_uniform
            return [(f"img={i}:eps=U({number_label(a)},{number_label(b)})",
                     {"image": i, "eps": self.eps_of(i)}) for i in self.images]
        if self.kind == "robustness":
            return [
                (f"img={i}:eps={number_label(e)}", {"image": i, "eps": e})
                for i in self.images
                for e in self.eps
            ]
        if self.kind == "build":
            return [("build", {})]
        return [(f"out={k}", {"output": k}) for k in self.outputs]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (see the module docstring)."""

    name: str
    path: str
    time_limit_s: float
    networks: tuple[str, ...]
    methods: tuple[str, ...]
    sparsities: tuple[float, ...]
    seeds: tuple[int, ...]
    problem: ProblemSpec
    bounds: str = "symbolic"
    prune_data: str | None = None
    prune_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    pipelines: tuple[str, ...] = (DEFAULT_PIPELINE,)
    kind: str = "sweep"
    pruned_pipelines: tuple[str, ...] | None = None  # None: every pipeline
    # False: MILPs start cold (the paper's setting); None (default): from x0 / the box centre
    # (None, not True, so that stores written before this setting existed still resume)
    warm_start: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class InstanceRow:
    """One row of an ``instances.csv``: absolute paths, the csv's timeout and where it was read."""

    onnx: str
    vnnlib: str
    timeout_s: float
    onnx_rel: str
    vnnlib_rel: str
    line: int


@dataclass(frozen=True)
class InstancesSpec:
    """A VNN-COMP campaign: every row, optionally repeated per pruning configuration."""

    name: str
    path: str
    rows: tuple[InstanceRow, ...]
    time_limit_s: float | None = None  # caps each row's timeout when given
    methods: tuple[str, ...] = ("magnitude",)
    sparsities: tuple[float, ...] = (0.0,)
    seeds: tuple[int, ...] = (0,)
    bounds: str = "lp"
    pipelines: tuple[str, ...] = (DEFAULT_PIPELINE,)
    kind: str = "instances"
    families: bool = False  # rows of several benchmark folders (their first path part)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CampaignSpec = SweepSpec | InstancesSpec


# ---------------------------------------------------------------------------------- entry point
def load_spec(
    path: str | Path,
    *,
    time_limit_s: float | None = None,
    methods: Sequence[str] | None = None,
    sparsities: Sequence[float] | None = None,
) -> CampaignSpec:
    """Read a sweep ``.toml``, an ``instances.csv`` (chosen by the file's suffix), or a folder:
    every ``instances*.csv`` under it as one campaign (:func:`parse_instances_folder`).

    ``time_limit_s`` overrides a sweep's ``time_limit_s`` and caps every csv row's timeout;
    ``methods`` / ``sparsities`` apply to csv campaigns only (a sweep file sets its own).
    """
    p = Path(path)
    if not (p.is_dir() or p.is_file()):
        raise ModelFileError(
            f"campaign spec {p} not found (give a sweep .toml or an instances.csv)"
        )
    if time_limit_s is not None and not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise InputError(f"--time-limit must be a number > 0, got {time_limit_s}")
    if p.is_dir():
        return parse_instances_folder(p, time_limit_s=time_limit_s, methods=methods,
                                      sparsities=sparsities)
    if p.suffix == ".toml":
        if methods is not None or sparsities is not None:
            raise InputError(
                f"{p} is a sweep file: set methods and sparsities in its [sweep] table, "
                "not on the command line"
            )
        spec = parse_sweep(p.read_text(), path=str(p))
        if time_limit_s is not None:
            spec = _replace(spec, time_limit_s=float(time_limit_s))
        return spec
    if p.suffix == ".csv":
        return parse_instances_csv(
            p, time_limit_s=time_limit_s, methods=methods, sparsities=sparsities
        )
    raise InputError(f"cannot tell what {p} is: a campaign spec ends in .toml (sweep) or .csv")


def _replace(spec: SweepSpec, **changes: Any) -> SweepSpec:
    from dataclasses import replace

    return replace(spec, **changes)


# ---------------------------------------------------------------------------------------- TOML
class _Where:
    """Turns a (table, key) into the line of the file where it is set, for error messages."""

    def __init__(self, text: str, path: str | None):
        self.path = path
        self.lines: dict[tuple[str, str], int] = {}
        self.tables: dict[str, int] = {}
        table = ""
        for n, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            m = re.match(r"^\[\s*([A-Za-z0-9_.\-\" ]+?)\s*\]$", line)
            if m:
                table = m.group(1).replace('"', "")
                self.tables.setdefault(table, n)
                continue
            for part in line.split(";"):
                k = re.match(r"^([A-Za-z0-9_\-]+)\s*=", part.strip())
                if k:
                    self.lines.setdefault((table, k.group(1)), n)

    def error(self, message: str, table: str, key: str | None = None) -> ParseError:
        line = self.lines.get((table, key)) if key else None
        return ParseError(message, path=self.path, line=line or self.tables.get(table))


def parse_sweep(text: str, *, path: str | None = None) -> SweepSpec:
    """Parse a sweep file's text; ParseError (naming the file and line) on anything wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"invalid TOML: {exc}", path=path) from None
    where = _Where(text, path)
    unknown = sorted(set(doc) - {"sweep", "problem", "prune"})
    if unknown:
        raise ParseError(
            f"unknown table(s) {unknown}; a sweep file has [sweep], [problem] and "
            "optionally [prune]",
            path=path,
        )
    for table in ("sweep", "problem"):
        if not isinstance(doc.get(table), dict):
            raise ParseError(f"missing [{table}] table", path=path)
    sw = doc["sweep"]
    _check_keys(sw, "sweep", _SWEEP_KEYS, _SWEEP_REQUIRED, where)
    base = Path(path).parent if path else Path.cwd()
    networks = tuple(
        _network_ref(n, base, where) for n in _str_list(sw, "networks", "sweep", where)
    )
    sparsities = tuple(_sparsity(v, where) for v in _num_list(sw, "sparsities", "sweep", where))
    methods = tuple(_str_list(sw, "methods", "sweep", where)) if "methods" in sw else ()
    if any(p > 0 for p in sparsities) and not methods:
        raise where.error(
            "nonzero sparsities need at least one pruning method in 'methods'",
            "sweep",
            "sparsities",
        )
    _check_methods(methods, where)
    seeds = (
        tuple(_int(v, "seeds", "sweep", where) for v in _num_list(sw, "seeds", "sweep", where))
        if "seeds" in sw
        else (0,)
    )
    bounds = sw.get("bounds", "symbolic")
    if bounds not in BOUNDS_METHODS:
        raise where.error(
            f"'bounds' must be one of {list(BOUNDS_METHODS)}, got {bounds!r}", "sweep", "bounds"
        )
    name = sw["name"]
    if not isinstance(name, str) or not name.strip():
        raise where.error(f"'name' must be a non-empty string, got {name!r}", "sweep", "name")
    data, options = _parse_prune(doc.get("prune", {}), methods, where)
    problem = _parse_problem(doc["problem"], where, base)
    warm = sw.get("warm_start", True)
    if not isinstance(warm, bool):
        raise where.error(f"'warm_start' must be true or false, got {warm!r}", "sweep",
                          "warm_start")
    if "time_limit_s" in sw:
        limit = _positive(sw["time_limit_s"], "time_limit_s", "sweep", where)
    elif problem.kind == "build":
        limit = 0.0  # a build task solves nothing
    else:
        raise where.error("[sweep] needs 'time_limit_s'", "sweep")
    pipelines: tuple[str, ...] = (DEFAULT_PIPELINE,)
    if "pipelines" in sw:
        try:
            pipelines = check_pipelines(_str_list(sw, "pipelines", "sweep", where), problem.kind,
                                        sparsities)
        except InputError as exc:
            raise where.error(str(exc), "sweep", "pipelines") from None
    pruned: tuple[str, ...] | None = None
    if "pruned_pipelines" in sw:
        pruned = tuple(_str_list(sw, "pruned_pipelines", "sweep", where))
        stray = [p for p in pruned if p not in pipelines]
        if stray:
            raise where.error(f"pruned_pipelines names {stray}, which 'pipelines' does not list",
                              "sweep", "pruned_pipelines")
    return SweepSpec(
        name=name.strip(),
        path=str(path or ""),
        time_limit_s=limit,
        networks=networks,
        methods=methods,
        sparsities=tuple(sorted(set(sparsities))),
        seeds=_unique(seeds, "seeds", where),
        problem=problem,
        bounds=str(bounds),
        prune_data=data,
        prune_options=options,
        pipelines=pipelines,
        pruned_pipelines=pruned,
        warm_start=None if warm else False,
    )


def _eps_uniform(tab: dict[str, Any], where: _Where) -> tuple[float, float]:
    v = tab["eps_uniform"]
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool)
                       and math.isfinite(x) for x in v)
            or not 0 <= v[0] <= v[1]):
        raise where.error(f"'eps_uniform' must be [a, b] with 0 <= a <= b, got {v!r}", "problem",
                          "eps_uniform")
    return float(v[0]), float(v[1])


def _centres(tab: dict[str, Any], base: Path, where: _Where) -> str:
    """The folder of ``.vnnlib`` properties whose images are the centres (relative to the sweep
    file), absolute."""
    v = tab["centres"]
    if not isinstance(v, str) or not v:
        raise where.error(f"'centres' must be a folder of .vnnlib files, got {v!r}", "problem",
                          "centres")
    p = Path(v) if Path(v).is_absolute() else base / v
    if not p.is_dir() or not any(p.rglob("*.vnnlib")):
        raise where.error(f"'centres': no .vnnlib file under {v} (looked at {p}); the VNN-COMP "
                          "benchmarks live in ../shared/bench/vnncomp beside the checkout",
                          "problem", "centres")
    return str(p.resolve())


def _check_keys(
    table: dict[str, Any], name: str, allowed: Sequence[str], required: Sequence[str], where: _Where
) -> None:
    for key in table:
        if key not in allowed:
            raise where.error(
                f"unknown key {key!r} in [{name}]; allowed: {', '.join(allowed)}", name, key
            )
    for key in required:
        if key not in table:
            raise where.error(f"[{name}] needs {key!r}", name)


def _str_list(table: dict[str, Any], key: str, name: str, where: _Where) -> list[str]:
    v = table[key]
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
        raise where.error(f"'{key}' must be a non-empty list of strings, got {v!r}", name, key)
    if len(set(v)) != len(v):
        raise where.error(f"'{key}' lists an entry twice: {v!r}", name, key)
    return list(v)


def _num_list(table: dict[str, Any], key: str, name: str, where: _Where) -> list[float]:
    v = table[key]
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = [v]
    if (
        not isinstance(v, list)
        or not v
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)
    ):
        raise where.error(
            f"'{key}' must be a number or a non-empty list of numbers, got {v!r}", name, key
        )
    return list(v)


def _int(v: float, key: str, name: str, where: _Where) -> int:
    if not isinstance(v, int) or v < 0:
        raise where.error(f"'{key}' must hold integers >= 0, got {v!r}", name, key)
    return int(v)


def _positive(v: Any, key: str, name: str, where: _Where) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise where.error(f"'{key}' must be a number > 0, got {v!r}", name, key)
    return float(v)


def _sparsity(v: float, where: _Where) -> float:
    try:
        return check_sparsity(v)
    except InputError:
        raise where.error(
            f"sparsities must lie in [0, 1), got {v!r}", "sweep", "sparsities"
        ) from None


def _unique(
    values: tuple[Any, ...], key: str, where: _Where, table: str = "sweep"
) -> tuple[Any, ...]:
    if len(set(values)) != len(values):
        raise where.error(f"'{key}' lists a value twice: {list(values)!r}", table, key)
    return values


def parse_random_name(name: str) -> tuple[tuple[int, ...], int] | None:
    """``"random:64-50-50-1:seed=50"`` -> ``((64, 50, 50, 1), 50)``; None if not a random name."""
    m = _RANDOM_RE.match(name)
    if not m:
        return None
    widths = tuple(int(w) for w in m.group(1).split("-"))
    return widths, int(m.group(2))


def _network_ref(name: str, base: Path, where: _Where) -> str:
    """Validate a network reference; .onnx paths become absolute (relative to the sweep file)."""
    if name.startswith("random"):
        parsed = parse_random_name(name)
        if parsed is None or min(parsed[0]) < 1:
            raise where.error(
                f"random network {name!r} must look like 'random:64-50-50-1:seed=50' "
                "(positive widths from input to output, at least 2 of them, and a seed)",
                "sweep",
                "networks",
            )
        return name
    if name.endswith(".onnx"):
        p = Path(name)
        p = p if p.is_absolute() else (base / p)
        if not p.is_file():
            raise where.error(f"network file {name} not found (looked at {p})", "sweep", "networks")
        return str(p.resolve())
    shipped = sorted(str(r["name"]) for r in list_models())
    if name not in shipped:
        raise where.error(
            f"unknown network {name!r}; shipped models: {', '.join(shipped)} "
            "(or an .onnx path, or 'random:WIDTHS:seed=S')",
            "sweep",
            "networks",
        )
    return name


def _check_methods(methods: Sequence[str], where: _Where, table: str = "sweep") -> None:
    if not methods:
        return
    known = available()
    for m in methods:
        if m.removesuffix(FINETUNED) not in known:
            raise where.error(
                f"unknown pruning method {m!r}; available: {', '.join(known)} (each also as "
                f"NAME{FINETUNED}: inside finetuning with rewinding)", table, "methods"
            )


def _parse_problem(tab: dict[str, Any], where: _Where, base: Path) -> ProblemSpec:
    kind = tab.get("kind")
    if kind == "robustness":
        _check_keys(tab, "problem", _ROBUST_KEYS, ("kind", "images"), where)
        norm = tab.get("norm", "l1")
        if norm not in ("l1", "linf"):
            raise where.error(f"'norm' must be 'l1' or 'linf', got {norm!r}", "problem", "norm")
        if ("eps" in tab) == ("eps_uniform" in tab):
            raise where.error("[problem] needs one of 'eps' (radii) or 'eps_uniform' ([a, b]: "
                              "one radius per image drawn from U(a, b))", "problem")
        uniform = _eps_uniform(tab, where) if "eps_uniform" in tab else None
        balls = _balls(tab, where) if uniform is None else ()
        eps = () if balls or uniform else tuple(
            float(e) for e in _num_list(tab, "eps", "problem", where))
        if any(not math.isfinite(e) or e < 0 for e in eps):
            raise where.error(
                f"'eps' must be finite numbers >= 0, got {list(eps)!r}", "problem", "eps"
            )
        images = tuple(
            _int(v, "images", "problem", where) for v in _num_list(tab, "images", "problem", where)
        )
        target = tab.get("target", "top2")
        if not (
            target in ("top2", "any")
            or (isinstance(target, int) and not isinstance(target, bool) and target >= 0)
        ):
            raise where.error(
                f"'target' must be 'top2', 'any' or a class index, got {target!r}",
                "problem",
                "target",
            )
        stop = tab.get("stop_on_success", True)
        if not isinstance(stop, bool):
            raise where.error(
                f"'stop_on_success' must be true or false, got {stop!r}",
                "problem",
                "stop_on_success",
            )
        return ProblemSpec(
            kind="robustness",
            norm=norm,
            eps=_unique(eps, "eps", where, "problem"),
            target=target,
            images=_unique(images, "images", where, "problem"),
            stop_on_success=stop,
            balls=balls,
            centres=_centres(tab, base, where) if "centres" in tab else None,
            eps_uniform=uniform,
        )
    if kind == "build":
        _check_keys(tab, "problem", _BUILD_KEYS, ("kind",), where)
        lo, hi = _box(tab, where)
        repeats = tab.get("repeats", 3)
        if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
            raise where.error(f"'repeats' must be an integer >= 1, got {repeats!r}", "problem",
                              "repeats")
        return ProblemSpec(kind="build", lower=lo, upper=hi, repeats=repeats)
    if kind == "maximize":
        _check_keys(tab, "problem", _MAX_KEYS, ("kind", "outputs"), where)
        outputs = tuple(
            _int(v, "outputs", "problem", where)
            for v in _num_list(tab, "outputs", "problem", where)
        )
        minimize = tab.get("minimize", False)
        if not isinstance(minimize, bool):
            raise where.error(
                f"'minimize' must be true or false, got {minimize!r}", "problem", "minimize"
            )
        lo, hi = _box(tab, where)
        return ProblemSpec(
            kind="maximize",
            outputs=_unique(outputs, "outputs", where, "problem"),
            minimize=minimize,
            lower=lo,
            upper=hi,
        )
    raise where.error(
        f"[problem] 'kind' must be 'robustness' or 'maximize', got {kind!r} (or 'build': time "
        "the MILP builds)", "problem", "kind"
    )


def _box(tab: dict[str, Any], where: _Where) -> tuple[float, float]:
    lo, hi = tab.get("lower", 0.0), tab.get("upper", 1.0)
    for key, v in (("lower", lo), ("upper", hi)):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise where.error(f"'{key}' must be a finite number, got {v!r}", "problem", key)
    if lo > hi:
        raise where.error(f"'lower' ({lo}) must not exceed 'upper' ({hi})", "problem", "lower")
    return float(lo), float(hi)


def _balls(tab: dict[str, Any], where: _Where) -> tuple[tuple[str, float], ...]:
    """``eps = { linf = 0.05, l1 = [1.0, 2.0] }``: (norm, eps) pairs; () when eps is not a table."""
    table = tab.get("eps")
    if not isinstance(table, dict):
        return ()
    if "norm" in tab:
        raise where.error("give either 'norm' or eps as a table by norm, not both", "problem",
                          "norm")
    out: list[tuple[str, float]] = []
    for norm in table:
        if norm not in ("l1", "linf"):
            raise where.error(f"eps table keys must be 'l1' or 'linf', got {norm!r}", "problem",
                              "eps")
        for e in _num_list(table, norm, "problem", where):
            if not math.isfinite(e) or e < 0:
                raise where.error(f"'eps' must be finite numbers >= 0, got {e!r}", "problem",
                                  "eps")
            out.append((norm, float(e)))
    if not out:
        raise where.error("the eps table names no norm: give e.g. eps = { linf = 0.05 }",
                          "problem", "eps")
    return _unique(tuple(out), "eps", where, "problem")


def _parse_prune(
    tab: Any, methods: Sequence[str], where: _Where
) -> tuple[str | None, dict[str, dict[str, Any]]]:
    if not isinstance(tab, dict):
        raise ParseError("[prune] must be a table", path=where.path)
    _check_keys(tab, "prune", _PRUNE_KEYS, (), where)
    data = tab.get("data")
    if data is not None and data != "digits":
        raise where.error(
            f"[prune] 'data' must be \"digits\" (the digits training split), got {data!r}",
            "prune",
            "data",
        )
    options = tab.get("options", {})
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise where.error(
            "[prune.options] must hold one table per method, e.g. [prune.options.random]",
            "prune",
            "options",
        )
    extra = sorted(set(options) - set(methods))
    if extra:
        raise where.error(
            f"[prune.options] names method(s) {extra} that are not in 'methods'", "prune", "options"
        )
    tuned = [m for m in methods if m.endswith(FINETUNED)]
    if tuned and data != "digits":
        raise where.error(
            f"{tuned[0]!r} finetunes on training data: set data = \"digits\" in [prune] (the "
            "digits training split; the only training data shipped)", "prune", "data"
        )
    for m in tuned:
        fopts = options.get(m, {}).get("finetune", {})
        bad = sorted(set(fopts) - set(FINETUNE_OPTIONS)) if isinstance(fopts, dict) else None
        if bad is None or bad:
            raise where.error(
                f"[prune.options.\"{m}\"] 'finetune' must be a table with keys among "
                f"{list(FINETUNE_OPTIONS)}, got {fopts!r}", "prune", "options"
            )
    return data, {k: dict(v) for k, v in options.items()}


# ----------------------------------------------------------------------------------------- CSV
def parse_instances_csv(
    path: str | Path,
    *,
    time_limit_s: float | None = None,
    methods: Sequence[str] | None = None,
    sparsities: Sequence[float] | None = None,
    pipelines: Sequence[str] | None = None,
    select: str | None = None,
) -> InstancesSpec:
    """Read a VNN-COMP ``instances.csv``: rows ``onnx,vnnlib,timeout_s`` (paths relative to the
    csv's folder). Every file must exist; ParseError names the line of a bad row. ``select``:
    keep only the rows whose onnx path contains it (e.g. ``"256x2"``)."""
    p = Path(path)
    rows: list[InstanceRow] = []
    seen: dict[tuple[str, str], int] = {}
    with p.open(newline="") as fh:
        for n, rec in enumerate(csv.reader(fh), start=1):
            if not rec or all(not c.strip() for c in rec):
                continue
            if select is not None and select not in rec[0]:
                continue
            row = _csv_row(rec, p, n)
            ident = (row.onnx_rel, row.vnnlib_rel)
            if ident in seen:
                raise ParseError(
                    f"row repeats the instance of line {seen[ident]} "
                    f"({row.onnx_rel}, {row.vnnlib_rel})",
                    path=str(p),
                    line=n,
                )
            seen[ident] = n
            rows.append(row)
    if not rows:
        what = f" whose onnx path contains {select!r}" if select is not None else ""
        raise ParseError(f"no instances{what}: expected rows 'onnx,vnnlib,timeout_s'", path=str(p))
    sps = tuple(sorted({float(s) for s in (sparsities if sparsities is not None else [0.0])}))
    for s in sps:
        try:
            check_sparsity(s)
        except InputError:
            raise InputError(f"sparsities must lie in [0, 1), got {s}") from None
    meths = tuple(methods) if methods else ("magnitude",)
    _check_methods(meths, _Where("", str(p)))
    name = p.parent.name + ("" if p.stem == "instances" else f"-{p.stem}")
    return InstancesSpec(
        name=name,
        path=str(p.resolve()),
        rows=tuple(rows),
        time_limit_s=time_limit_s,
        methods=meths,
        sparsities=sps,
        pipelines=check_pipelines(pipelines or (DEFAULT_PIPELINE,), "instances", sps),
    )


def parse_instances_folder(
    folder: str | Path,
    *,
    time_limit_s: float | None = None,
    methods: Sequence[str] | None = None,
    sparsities: Sequence[float] | None = None,
) -> InstancesSpec:
    """Every ``instances*.csv`` under ``folder`` (e.g. the VNN-COMP benchmarks: one per family)
    as one campaign. Rows name their files by their path under ``folder``
    (``acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx``), so the report can group them by family
    (the first folder) and the keys stay unique across families."""
    root = Path(folder).resolve()
    csvs = sorted(root.rglob("instances*.csv"))
    if not csvs:
        raise ModelFileError(f"campaign spec {folder} is a folder without any instances*.csv: "
                             "give a VNN-COMP benchmark folder (with instances.csv files), an "
                             "instances.csv or a sweep .toml")
    parts = [parse_instances_csv(c, time_limit_s=time_limit_s, methods=methods,
                                 sparsities=sparsities) for c in csvs]
    def under(path: str, csv: Path) -> str:
        p = Path(path)
        if p.is_relative_to(root):
            return p.relative_to(root).as_posix()
        return f"{csv.parent.relative_to(root).as_posix()}/{p.name}"  # a file from elsewhere

    rows = []
    for c, part in zip(csvs, parts, strict=True):
        for r in part.rows:
            rows.append(InstanceRow(r.onnx, r.vnnlib, r.timeout_s, under(r.onnx, c),
                                    under(r.vnnlib, c), r.line))
    return InstancesSpec(
        name=root.name, path=str(root), rows=tuple(rows), time_limit_s=time_limit_s,
        methods=parts[0].methods, sparsities=parts[0].sparsities, pipelines=parts[0].pipelines,
        families=True,
    )


def _csv_row(rec: list[str], path: Path, line: int) -> InstanceRow:
    if len(rec) != 3:
        raise ParseError(
            f"expected 3 fields 'onnx,vnnlib,timeout_s', got {len(rec)}: {','.join(rec)}",
            path=str(path),
            line=line,
        )
    onnx_rel, vnnlib_rel, timeout = (c.strip() for c in rec)
    try:
        t = float(timeout)
    except ValueError:
        raise ParseError(
            f"timeout {timeout!r} is not a number", path=str(path), line=line
        ) from None
    if not (math.isfinite(t) and t > 0):
        raise ParseError(f"timeout must be > 0 seconds, got {timeout}", path=str(path), line=line)
    files = [str(_resolve_instance_file(path, rel, line)) for rel in (onnx_rel, vnnlib_rel)]
    return InstanceRow(files[0], files[1], t, onnx_rel, vnnlib_rel, line)


def _resolve_instance_file(csv: Path, rel: str, line: int) -> Path:
    """``rel`` relative to the csv's folder; where that file is missing, the one file of the same
    name under that folder (benchmark copies often move ``nets/`` to ``onnx/`` or ``vnnlib/`` to
    ``vnnlib_2022/``), preferring, for ``instances_2022.csv``, a path that names ``2022``."""
    f = (csv.parent / rel).resolve()
    if f.is_file():
        return f
    found = sorted(q.resolve() for q in csv.parent.rglob(Path(rel).name) if q.is_file())
    tag = csv.stem.rpartition("_")[2]
    if len(found) > 1 and tag and tag != csv.stem:
        found = [q for q in found if tag in q.relative_to(csv.parent.resolve()).as_posix()]
    if len(found) == 1:
        return found[0]
    where = f"; {len(found)} files of that name under {csv.parent}" if found else ""
    raise ParseError(f"file {rel} not found (looked at {f}{where})", path=str(csv), line=line)
