"""The ``surrogate`` command line: parse, call the library, print.

Subcommands live in :mod:`surrogate.commands` (one module each). Library errors
(:class:`~surrogate.errors.SurrogateError`) become a one-line message on stderr and exit status 2;
a keyboard interrupt exits 130. Never a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from collections.abc import Sequence

from surrogate import __version__
from surrogate.errors import SurrogateError

__all__ = ["main", "build_parser"]


def _command_modules() -> list:
    import surrogate.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"{pkg.__name__}.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surrogate",
        description="Optimization over trained (and pruned) ReLU networks with MILP "
        "(Pyomo + OMLT + HiGHS).",
    )
    parser.add_argument("--version", action="version", version=f"surrogate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def _limit_blas_threads() -> None:
    """One BLAS thread: our matrices are small and HiGHS uses the other core; oversubscribed
    BLAS threads made small products 50x slower on 2-core machines."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return
    threadpool_limits(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _limit_blas_threads()
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except SurrogateError as exc:
        print(f"surrogate {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"surrogate {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (e.g. `surrogate ... | head`): not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
