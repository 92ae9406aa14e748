"""Options every command shares mean the same everywhere; help shows each default once."""

from __future__ import annotations

import argparse

import pytest
import torch

from rescore.cli import nbest, oracle, report, train, translate, tune
from rescore.cli.common import (
    add_device_args,
    apply_device_args,
    default_threads,
    make_parser,
    positive_int,
)
from rescore.distributed import pick_device
from rescore.errors import RescoreError

PARSERS = {"nbest": nbest.build_parser, "oracle": oracle.build_parser,
           "report": report.build_parser, "train": train.build_parser,
           "translate": translate.build_parser, "tune": tune.build_parser}
DEVICE_COMMANDS = ("nbest", "train", "translate")


@pytest.mark.parametrize("command", DEVICE_COMMANDS)
def test_device_and_threads_mean_the_same_in_every_command(command: str,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    parser = PARSERS[command]()
    threads = next(a for a in parser._actions if "--threads" in a.option_strings)
    device = next(a for a in parser._actions if "--device" in a.option_strings)
    assert threads.type is positive_int and device.default == "auto"
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--threads", "0"])
    assert stop.value.code == 2
    assert "argument --threads: must be at least 1, not 0" in capsys.readouterr().err


def test_pick_device() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(RescoreError, match="unknown device 'gpu'; valid: auto, cpu, cuda"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(RescoreError, match="no CUDA device"):
            pick_device("cuda")


@pytest.mark.parametrize("command", list(PARSERS))
def test_help_shows_every_default_once_and_none_for_required(command: str) -> None:
    parser = PARSERS[command]()
    text = parser.format_help()
    assert "(default: None)" not in text
    assert "(default: False)" not in text and "(default: [])" not in text
    formatter = parser._get_formatter()
    for action in parser._actions:
        shown = formatter._get_help_string(action) or ""
        # never "(default 500) (default: 500)"
        assert shown.replace("%(default)s", "").count("default") <= 1, shown
        assert action.help, f"{action.option_strings} has no help"


def test_help_formatter() -> None:
    parser = make_parser("x", "test")
    parser.add_argument("--a", type=int, default=5, help="some value")
    parser.add_argument("--b", type=int, default=5, help="some value (default 5)")
    parser.add_argument("--c", required=True, help="required")
    add_device_args(parser)
    text = parser.format_help()
    assert "some value (default: 5)" in text and "(default 5) (default" not in text
    assert "required (default" not in text
    assert isinstance(parser.parse_args(["--c", "1"]), argparse.Namespace)


def test_default_threads_is_one_unless_omp_num_threads_says(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """From a user's report: torch's default (every core) made the quick pipeline 16x slower
    on a busy 2-core machine; the default is one thread, or $OMP_NUM_THREADS."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "x")
    assert default_threads() == 1
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS")
        apply_device_args(argparse.Namespace(threads=None, device="cpu"))
        assert torch.get_num_threads() == 1
        apply_device_args(argparse.Namespace(threads=2, device="cpu"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
