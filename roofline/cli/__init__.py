"""cli: the ``roofline`` command (console script ``roofline = "roofline.cli:main"`` and
``python -m roofline.cli``). It parses arguments (parser), runs one subcommand
(commands: ask the library for a result, print it with roofline.report.tables, write the
files asked for) and turns user errors (bad spec, bad target, unsupported op under
--strict, bad arguments) into one line on stderr and exit status 2, never a traceback.
It only reads results; all numbers come from the library.

May import every stage and tools (it is the top of the stack); nothing imports cli.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console

from roofline.cli.parser import EXIT_USER_ERROR, build_parser
from roofline.errors import RooflineError

__all__ = ["EXIT_USER_ERROR", "build_parser", "main"]

#: Narrowest console the tables are laid out for (wider terminals use their width).
MIN_WIDTH = 140


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``roofline`` command with ``argv`` (default sys.argv[1:]); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, MIN_WIDTH))
    try:
        return args.run(args, console)
    except RooflineError as exc:
        # One line even when the message quotes a multi-line error from inside the model.
        message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"roofline: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
