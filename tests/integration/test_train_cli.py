"""rescore-train end to end on a tiny synthetic corpus: outputs, exact resume after SIGKILL,
data-parallel equals single-process, and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rescore import model_dir, scoring
from rescore.report import ReportSpec, provenance
from rescore.tensor_files import load_plain
from tests.helpers import IN_PROCESS, SUBPROCESS_ENV, run_cli

TINY = ["--preset", "cpu-tiny", "--threads", "1", "--no-progress", "--hidden-dim", "24",
        "--embed-dim", "16", "--batch-size", "16", "--seed", "3"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A learnable toy task: the target is the source with every word renamed."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    paths = {}
    for split, n in (("train", 400), ("valid", 40)):
        src, tgt = [], []
        for _ in range(n):
            words = rng.integers(0, 40, rng.integers(1, 9))
            src.append(" ".join(f"s{w}" for w in words))
            tgt.append(" ".join(f"t{w}" for w in words))
        (root / f"{split}.src").write_text("\n".join(src) + "\n")
        (root / f"{split}.tgt").write_text("\n".join(tgt) + "\n")
        paths[split] = root / f"{split}.src"
        paths[split + "_tgt"] = root / f"{split}.tgt"
    return paths


def data_args(c: dict[str, Path]) -> list[str | Path]:
    return ["--src-train", c["train"], "--tgt-train", c["train_tgt"],
            "--src-valid", c["valid"], "--tgt-valid", c["valid_tgt"]]


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return model_dir.read_state(directory)[1]


def test_train_writes_a_self_describing_model_dir(corpus: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "1.5",
                     "--output", out)
    assert result.returncode == 0, result.stderr
    assert {"config.json", "src.vocab", "tgt.vocab", "model.safetensors", "checkpoint.pt",
            "log.jsonl", "train-summary.json"} <= {p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["hidden_dim"] == 24 and config["model"]["reverse_source"] is True
    assert config["model"]["dropout"] == 0.0  # the paper's recipe: no dropout by default
    assert config["model"]["src_vocab_size"] == 44  # 40 words + 4 specials
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    valid = [r for r in log if r["type"] == "valid"]
    # every half epoch (25 updates an epoch: a half ends after the update that crosses it)
    assert [r["epoch"] for r in valid] == pytest.approx([0.5, 1.0, 1.5], abs=1 / 25)
    assert valid[-1]["ppl"] < valid[0]["ppl"]  # it learns
    assert all("tgt_words_per_s" in r for r in log if r["type"] == "train")


@pytest.mark.system  # SIGKILL mid-run
@pytest.mark.parametrize("attention", [[], ["--attention", "dot", "--dropout", "0.2"]],
                         ids=["none", "dot-dropout"])
def test_resume_after_sigkill_ends_with_the_same_parameters(corpus: dict[str, Path],
                                                            tmp_path: Path,
                                                            attention: list[str]) -> None:
    args = [*TINY, *data_args(corpus), "--epochs", "6", "--checkpoint-every", "3",
            "--log-every", "1", *attention]
    straight = tmp_path / "straight"
    assert run_cli("rescore-train", *args, "--output", straight).returncode == 0
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "rescore.cli.train", *map(str, args),
                             "--output", str(killed)], stderr=subprocess.DEVNULL,
                            start_new_session=True)
    log = killed / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and sum(1 for _ in log.open()) >= 40:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "model.safetensors").exists()
    resumed = run_cli("rescore-train", "--resume", "--output", killed, "--threads", "1",
                      "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "from update 0" not in resumed.stderr
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.system  # DDP: two processes
@pytest.mark.parametrize("attention", [[], ["--attention", "concat", "--input-feeding"]],
                         ids=["none", "concat-feeding"])
def test_two_processes_with_half_batches_equal_one_with_the_full_batch(
        corpus: dict[str, Path], tmp_path: Path, attention: list[str]) -> None:
    args = [*TINY, *data_args(corpus), "--max-steps", "2", "--checkpoint-every", "1",
            *attention]
    single = tmp_path / "single"
    assert run_cli("rescore-train", *args, "--output", single).returncode == 0
    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rescore.cli.train", *map(str, args), "--output", str(ddp)],
        capture_output=True, text=True, env=env, check=False, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = weights(single), weights(ddp)
    start = load_plain(single / "checkpoint.pt")["progress"]["step"]
    assert start == 2
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-6, rtol=0)
    init = torch.nn.utils.parameters_to_vector
    moved = float((init(list(a.values())) - init(list(b.values()))).abs().max())
    assert moved <= 1e-6


def test_attention_is_recorded_and_learns(corpus: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "att"
    result = run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "1",
                     "--attention", "general", "--input-feeding", "--output", out)
    assert result.returncode == 0, result.stderr
    model = json.loads((out / "config.json").read_text())["model"]
    assert (model["attention"], model["input_feeding"]) == ("general", True)
    valid = [json.loads(r) for r in (out / "log.jsonl").read_text().splitlines()]
    ppl = [r["ppl"] for r in valid if r["type"] == "valid"]
    assert ppl[-1] < ppl[0]
    feeding_alone = run_cli("rescore-train", *TINY, *data_args(corpus), "--input-feeding",
                            "--output", tmp_path / "bad")
    assert feeding_alone.returncode == 2
    assert feeding_alone.stderr.strip().splitlines()[-1].endswith(
        "input feeding needs attention (--attention dot|general|concat)")
    assert not (tmp_path / "bad").exists()


def test_each_training_process_records_its_environment(corpus: dict[str, Path],
                                                        tmp_path: Path) -> None:
    """Two runs of one recipe differ only across machines or libraries: each segment of a
    run logs where it ran, the summary lists the distinct environments, the model's
    description (and a report's model line) says them."""
    out = tmp_path / "m"
    first = run_cli("rescore-train", *TINY, *data_args(corpus), "--max-steps", "3",
                    "--output", out)
    assert first.returncode == 0, first.stderr
    resumed = run_cli("rescore-train", "--resume", "--output", out, "--threads", "2",
                      "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    envs = [r for r in records if r["type"] == "environment"]
    assert [(e["step"], e["threads"]) for e in envs] == [(0, 1), (3, 2)]
    assert envs[0]["torch"] == torch.__version__ and envs[0]["precision"] == "fp32"
    assert envs[0]["device"] == "cpu" and envs[0]["processor"]
    summary = json.loads((out / "train-summary.json").read_text())
    assert [(e["threads"], e["from_steps"]) for e in summary["environments"]] == \
        [(1, [0]), (2, [3])]
    again = run_cli("rescore-train", "--resume", "--epochs", "2", "--output", out,
                    "--threads", "1", "--no-progress")
    assert again.returncode == 0, again.stderr
    summary = json.loads((out / "train-summary.json").read_text())
    assert [e["from_steps"] for e in summary["environments"]] == [[0, 25], [3]]
    described = model_dir.describe(out)["trained with"]
    assert len(described) == 2 and "1 thread, fp32" in described[0]
    assert "2 threads, fp32" in described[1] and torch.__version__ in described[0]
    # averaged weights name the environments of the run they came from
    averaged = tmp_path / "avg"
    assert run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "1",
                   "--keep-checkpoints", "2", "--output", tmp_path / "k").returncode == 0
    assert run_cli("rescore-model", "average", tmp_path / "k", "--last", "2",
                   "--output", averaged).returncode == 0
    assert "1 thread, fp32" in model_dir.describe(averaged)["trained with"][0]
    spec = ReportSpec(ref=corpus["valid_tgt"], tables=[], models=[("m", out)])
    line = next(x for x in provenance(spec, 40, None) if x.startswith("Model m:"))
    assert f"(trained with torch {torch.__version__}, cpu " in line
    assert "1 thread, fp32; then torch" in line and "2 threads, fp32)" in line


def test_mismatched_files_are_refused(corpus: dict[str, Path], tmp_path: Path) -> None:
    result = run_cli("rescore-train", *TINY, "--src-train", corpus["train"], "--tgt-train",
                     corpus["valid_tgt"], "--output", tmp_path / "m")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "train.src:41: more lines than" in result.stderr


def test_resume_problems(corpus: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "m"
    first = run_cli("rescore-train", *TINY, *data_args(corpus), "--max-steps", "2",
                    "--output", out)
    assert first.returncode == 0
    assert "stopped early (2 of " in first.stderr and f"--resume --output {out}" in first.stderr
    again = run_cli("rescore-train", *TINY, *data_args(corpus), "--output", out)
    assert again.returncode == 2 and "--resume" in again.stderr
    config = json.loads((out / "config.json").read_text())
    config["train"]["lr"] = 0.1
    (out / "config.json").write_text(json.dumps(config))
    changed = run_cli("rescore-train", "--resume", "--output", out, "--no-progress")
    assert changed.returncode == 2 and "different configuration" in changed.stderr
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    corrupt = run_cli("rescore-train", "--resume", "--output", out, "--no-progress")
    assert corrupt.returncode == 2 and "corrupt or unreadable checkpoint" in corrupt.stderr
    assert "Traceback" not in changed.stderr + corrupt.stderr
    bad = run_cli("rescore-train", *TINY, *data_args(corpus), "--dropout", "1.5", "--output",
                  tmp_path / "d")
    assert bad.returncode == 2 and "dropout must be in [0, 1)" in bad.stderr
    assert not (tmp_path / "d").exists()
    assert "Traceback" not in bad.stderr


def test_resume_lengthens_a_run_and_refuses_other_changes(corpus: dict[str, Path],
                                                          tmp_path: Path) -> None:
    """--resume --epochs lengthens a finished run to the run trained that long from the start
    (bit for bit); any other option that differs from the recorded run is refused in one
    line (it was silently ignored), the recorded values themselves are accepted."""
    short, long_ = tmp_path / "short", tmp_path / "long"
    assert run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "1",
                   "--output", short).returncode == 0
    assert run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "2",
                   "--output", long_).returncode == 0
    refused = run_cli("rescore-train", "--resume", "--output", short, "--epochs", "2",
                      "--lr", "0.3", "--no-progress")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--lr 0.3 (recorded: 0.7)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    other = run_cli("rescore-train", "--resume", "--output", short, "--preset", "cpu-strong",
                    "--no-progress")
    assert other.returncode == 2 and "--preset cpu-strong (recorded: cpu-tiny)" in other.stderr
    fewer = run_cli("rescore-train", "--resume", "--output", short, "--epochs", "0.5",
                    "--no-progress")
    assert fewer.returncode == 2 and "fewer updates than the run has done" in fewer.stderr
    # the whole first command again, lengthened: the same values are no change
    longer = run_cli("rescore-train", *TINY, *data_args(corpus), "--resume", "--epochs", "2",
                     "--output", short)
    assert longer.returncode == 0, longer.stderr
    assert json.loads((short / "config.json").read_text())["train"]["epochs"] == 2.0
    a, b = weights(short), weights(long_)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_divergence_stops_and_keeps_the_last_checkpoint(corpus: dict[str, Path],
                                                        tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = run_cli("rescore-train", *TINY, *data_args(corpus), "--lr", "1e38",
                     "--checkpoint-every", "1", "--output", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "loss became" in result.stderr and "last good checkpoint" in result.stderr
    saved = load_plain(out / "checkpoint.pt")
    assert saved["progress"]["step"] >= 1
    assert all(torch.isfinite(v).all() for v in saved["model"].values())


@pytest.mark.system  # a signal mid-run
def test_interrupt_says_where_a_resume_continues(corpus: dict[str, Path], tmp_path: Path) -> None:
    """From a user's report: Ctrl-C said only "interrupted"; it must say which update a
    --resume continues from."""
    out = tmp_path / "m"
    proc = subprocess.Popen([sys.executable, "-m", "rescore.cli.train", *map(str, TINY),
                             *map(str, data_args(corpus)), "--epochs", "400",
                             "--checkpoint-every", "5", "--output", str(out)],
                            stderr=subprocess.PIPE, text=True, env=SUBPROCESS_ENV,
                            # a job started in the background inherits SIGINT ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; continue from update " in err and "--resume --output" in err


def test_right_to_left_model_records_its_order_and_languages(corpus: dict[str, Path],
                                                             tmp_path: Path) -> None:
    from rescore import model_dir
    from rescore.corpus import BinarizedCorpus

    out = tmp_path / "r2l"
    result = run_cli("rescore-train", *TINY, *data_args(corpus), "--max-steps", "2",
                     "--target-right-to-left", "--src-lang", "en", "--tgt-lang", "de",
                     "--output", out)
    assert result.returncode == 0, result.stderr
    loaded = model_dir.load(out)
    assert loaded.right_to_left and loaded.languages == ("en", "de")
    first = corpus["train_tgt"].read_text().splitlines()[0].split()
    _, tgt = BinarizedCorpus(out / "data" / "train").pair(0)
    assert loaded.tgt_vocab.decode(tgt.tolist()) == [
        w if w in loaded.tgt_vocab.index else "<unk>" for w in first[::-1]]


@pytest.mark.skipif(IN_PROCESS != "1", reason="sets what the CPU supports in this process")
def test_precision(corpus: dict[str, Path], tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--precision: auto is fp32 on the CPU (the same losses, bit for bit); bf16 autocast
    trains on a CPU with native bf16 (losses near fp32's, not equal); on a CPU without it,
    where it would be slower than fp32, it is refused, as is an unknown value: one line,
    exit 2, no model folder."""
    monkeypatch.setattr(scoring, "cpu_has_bf16", lambda: True)
    losses = {}
    for precision in ("auto", "fp32", "bf16"):
        out = tmp_path / precision
        result = run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "1",
                         "--log-every", "5", "--precision", precision, "--output", out)
        assert result.returncode == 0, result.stderr
        records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        losses[precision] = [r["loss_per_token"] for r in records if r.get("type") == "train"]
    assert len(losses["fp32"]) >= 4 and losses["auto"] == losses["fp32"]
    assert losses["bf16"] != losses["fp32"]
    assert max(abs(a / b - 1) for a, b in zip(losses["bf16"], losses["fp32"], strict=True)) < 0.02
    # a bf16 run resumed without --precision goes on in bf16: lengthened, it is the run
    # trained that long in bf16 from the start, bit for bit (it went on in fp32)
    longer = tmp_path / "bf16-2"
    assert run_cli("rescore-train", *TINY, *data_args(corpus), "--epochs", "2",
                   "--precision", "bf16", "--output", longer).returncode == 0
    resumed = run_cli("rescore-train", "--resume", "--output", tmp_path / "bf16", "--epochs",
                      "2", "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "precision bf16, as recorded" in resumed.stderr
    a, b = weights(tmp_path / "bf16"), weights(longer)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    monkeypatch.setattr(scoring, "cpu_has_bf16", lambda: False)
    for precision, message in (("bf16", "this CPU has no native bf16"),
                               ("fp16", "argument --precision: invalid choice")):
        out = tmp_path / f"refused-{precision}"
        result = run_cli("rescore-train", *TINY, *data_args(corpus), "--precision", precision,
                         "--device", "cpu", "--output", out)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not out.exists()
