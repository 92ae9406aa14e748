"""What every command shares: --version, error handling and exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rescore import __version__
from rescore.errors import RescoreError

EXIT_USAGE = 2


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on stderr (default: when stderr is a terminal)")


def want_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def run(prog: str, body: Callable[[], None]) -> None:
    """Run ``body``; turn user errors into one line on stderr and exit status 2."""
    try:
        body()
    except RescoreError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except OSError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
