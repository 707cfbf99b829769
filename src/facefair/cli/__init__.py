"""The ``facefair`` command, one module per command group: ``data`` (datasets, prepare),
``training`` (methods, train, mitigate), ``evaluation`` (evaluate, metrics, table, report,
explain, robustness), ``experiments`` (experiment, demo), ``generator`` (generator train, sample).

torch is imported only by the commands that need it (inside their ``cmd_*`` functions), so
``facefair metrics`` audits a predictions CSV on a machine without torch. Errors on bad input
print one line and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import FaceFairError
from ..logs import show_messages
from . import data, evaluation, experiments, generator, training
from .common import Parser

GROUPS = (data, training, generator, evaluation, experiments)


def build_parser() -> Parser:
    parser = Parser(prog="facefair", description="Measure and reduce demographic bias in facial-attribute classifiers.")
    parser.add_argument("--version", action="version", version=f"facefair {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (0, 2 on bad input, 3 when training diverged).
    Ctrl-C is not caught here, so a caller in the same process (a test) stops as it should;
    the console command catches it (:func:`entry`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    show_messages()
    if not args.command:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except FaceFairError as e:
        print(f"facefair {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"facefair {args.command}: training diverged: {e}", file=sys.stderr)
        return 3


def entry() -> None:
    """The console script: :func:`main`, with Ctrl-C ending the process quietly (status 130)."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


__all__ = ["build_parser", "entry", "main"]
