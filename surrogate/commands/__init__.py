"""CLI subcommands. Each module here defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; :mod:`surrogate.cli` discovers them."""
