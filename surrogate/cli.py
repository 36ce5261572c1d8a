"""The ``surrogate`` command line: parse, call the library, print.

Subcommands live in :mod:`surrogate.commands` (one module each). Errors never show a traceback
(unless ``--debug``):

- a bad argument (argparse) or a library error (:class:`~surrogate.errors.SurrogateError`) is one
  line on stderr, ``surrogate COMMAND: error: ...``, naming the file or argument, what is wrong
  and the fix; exit status 2;
- an operating-system error (disk full, permission denied while writing) is one line too, exit 2;
- Ctrl-C prints ``surrogate COMMAND: interrupted``, exit 130, whatever the interrupted code then
  raised (a solver stopped halfway reports an error of its own, which is not the user's problem);
- anything else is a bug: one line saying so, exit 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from surrogate import __version__, commands
from surrogate.commands._common import clear_interrupt, interrupted, note_interrupt
from surrogate.errors import SurrogateError

__all__ = ["main", "build_parser"]

EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BUG = 1


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``PROG: error: MESSAGE (see `PROG --help`)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _command_modules() -> list:
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"{commands.__name__}.{info.name}"))
    return mods


_DEBUG_HELP = "on an error, also print the Python traceback (for bug reports)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="surrogate",
        description="Optimization over trained (and pruned) ReLU networks with MILP "
        "(Pyomo + OMLT + HiGHS).",
    )
    parser.add_argument("--version", action="version", version=f"surrogate {__version__}")
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        # also accepted after the command name (`surrogate verify --debug ...`)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=_DEBUG_HELP)
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


class _Interrupts:
    """Records Ctrl-C (SIGINT) while a command runs and raises KeyboardInterrupt as Python does.

    The record outlives the exception: when the interrupted code swallows it (a solver stopped
    halfway reports a failure of its own), the commands' progress callbacks raise it again before
    the next step (:func:`surrogate.commands._common.check_interrupt`), and the command still
    ends as interrupted (exit 130) instead of printing a result."""

    def __init__(self) -> None:
        self.previous: Any = None

    @property
    def seen(self) -> bool:
        return interrupted()

    def _handler(self, signum: int, frame: object) -> None:
        note_interrupt()
        raise KeyboardInterrupt

    def __enter__(self) -> _Interrupts:
        clear_interrupt()
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
        clear_interrupt()


def _os_error_line(exc: OSError) -> str:
    what = exc.strerror or str(exc)
    if exc.filename is not None:
        return f"{exc.filename}: {what}: check the path, its permissions and free disk space"
    return f"{what}: check paths, permissions and free disk space"


def main(argv: Sequence[str] | None = None) -> int:
    with _Interrupts() as interrupts:
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
        except KeyboardInterrupt:
            return _interrupted("surrogate", False)
        if not getattr(args, "_run", None):
            parser.print_help()
            return EXIT_INPUT
        _limit_blas_threads()
        where = f"surrogate {args.command}"
        debug = bool(getattr(args, "debug", False))
        try:
            code = int(args._run(args) or 0)
            if interrupts.seen:  # the interrupted code carried on: its result is not whole
                return _interrupted(where, debug)
            return code
        except KeyboardInterrupt:
            return _interrupted(where, debug)
        except BrokenPipeError:
            # the reader went away (e.g. `surrogate ... | head`): not an error of ours
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except Exception as exc:  # one line for every kind; the traceback only with --debug
            if interrupts.seen:  # the interrupted code failed on its way out: still Ctrl-C
                return _interrupted(where, debug)
            if debug:
                traceback.print_exc()
            if isinstance(exc, SurrogateError):
                print(f"{where}: error: {exc}", file=sys.stderr)
                return EXIT_INPUT
            if isinstance(exc, OSError):
                print(f"{where}: error: {_os_error_line(exc)}", file=sys.stderr)
                return EXIT_INPUT
            print(
                f"{where}: internal error (a bug in surrogate): {type(exc).__name__}: "
                f"{str(exc).splitlines()[0] if str(exc) else ''}; rerun with --debug for the "
                "traceback and report it",
                file=sys.stderr,
            )
            return EXIT_BUG


def _interrupted(where: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"{where}: interrupted", file=sys.stderr, flush=True)
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
