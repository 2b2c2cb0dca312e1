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

def error_line(exc: BaseException) -> str:
    """A user error as the one line the command prints: the lines of a multi-line message
    (one quoted from inside a model) joined, control characters shown, not obeyed."""
    from roofline.report.text import clean

    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"roofline: error: {clean(message).replace(chr(92) + '[', '[')}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``roofline`` command with ``argv`` (default sys.argv[1:]); returns the exit status.

    Tables are laid out for the terminal's width (COLUMNS, or 80 when the output is not
    a terminal), so no line is wider than the terminal."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False)
    try:
        return args.run(args, console)
    except RooflineError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USER_ERROR
