"""What every command shares: the help format, option groups with validators (device, threads,
progress, seed), logging set-up, error handling and exit codes.

A command's ``main`` parses its arguments and hands a module-level function to :func:`run`;
that function calls the library and prints what it returns.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

import torch

from rescore import __version__
from rescore.distributed import DEVICES, pick_device
from rescore.errors import RescoreError

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default once: not when its help already says it, never for
    options without a default (None, an empty list) or for flags that are off."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, [], argparse.SUPPRESS) \
                or action.required:
            return text
        return super()._get_help_string(action)


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected error, print Python's traceback (also with "
                        "RESCORE_DEBUG=1)")
    return parser


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
    return value


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="show a progress bar on stderr (default: when stderr is a terminal)")


def want_progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def add_device_args(parser: argparse.ArgumentParser, what: str = "the models") -> None:
    """``--device`` (the same rule in every command, see :func:`pick_device`) and
    ``--threads``."""
    parser.add_argument("--device", default="auto", metavar="|".join(DEVICES),
                        help=f"device for {what}: auto (CUDA when available, else the CPU), "
                        "cpu, cuda (under torchrun each process takes cuda:LOCAL_RANK) or "
                        "cuda:N (default: auto)")
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads for torch (default: $OMP_NUM_THREADS if set, else "
                        "1). One thread is never far from the best for the CPU presets and "
                        "does not collapse when other work shares the machine (more threads "
                        "can then be 5-100x slower); try 2 or more for large models on an "
                        "idle machine")


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` when it is a positive integer, else 1."""
    text = os.environ.get("OMP_NUM_THREADS", "")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def apply_device_args(args: argparse.Namespace) -> torch.device:
    """Set torch's thread count (``--threads``, else :func:`default_threads`) and return the
    device the options ask for."""
    torch.set_num_threads(args.threads or default_threads())
    return pick_device(args.device)


def add_seed_arg(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--seed", type=int, default=1, help=help_text)


def setup_logging(prog: str) -> None:
    """Library messages (``logging``, INFO and up) go to stderr as ``PROG: message``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    root = logging.getLogger("rescore")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


def run(prog: str, command: Callable[[argparse.Namespace], None],
        args: argparse.Namespace) -> None:
    """Run ``command(args)``; turn user errors into one line on stderr and exit status 2,
    an interrupt into exit status 130."""
    setup_logging(prog)
    try:
        command(args)
    except RescoreError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except BrokenPipeError:
        # the reader closed stdout (``| head``): its choice, not an error; every command
        # writes its files before it prints, so nothing is lost
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        sys.exit(0)
    except OSError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as err:  # the last resort: one line, the traceback only on request
        if getattr(args, "debug", False) or os.environ.get("RESCORE_DEBUG", "") not in ("", "0"):
            raise
        print(internal_error_line(prog, err), file=sys.stderr)
        sys.exit(EXIT_INTERNAL)


def internal_error_line(prog: str, err: BaseException) -> str:
    """The one line for an error rescore did not foresee: the command, the input it was
    reading, what went wrong and where to report it."""
    from rescore.files import last_input

    text = " ".join(str(err).split())[:300]
    if isinstance(err, MemoryError):
        what = "out of memory"
    else:
        what = f"{type(err).__name__}" + (f": {text}" if text else "")
    where = f" while reading {last_input[0]}" if last_input else ""
    return (f"{prog}: internal error{where}: {what}. This is a bug in rescore or an input it "
            f"should have refused: please report it to rescore's issue tracker with the "
            "command line and "
            "the traceback (rerun with --debug or RESCORE_DEBUG=1 to print it)")
