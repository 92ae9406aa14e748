"""Does a device compute what the CPU computes? One command for a GPU session (issue: the
paper's model on a GPU), every comparison against the CPU in the same run:

1. training: a tiny seeded model, the same updates on the CPU and on ``--device``, both fp32
   (``rescore-train --precision fp32``): the loss curves and the final weights;
2. bf16: the same run on ``--device`` with bf16 autocast (``--precision bf16``, the GPU
   default): its loss curve against fp32's (skipped on the CPU, which has no bf16 LSTM);
3. scoring: the CPU-trained model's log-probabilities of an n-best slice (the prefix-trie
   scorer) on both devices;
4. beam search: that model's beam-12 translations and their scores on both devices;
5. all of it again for a model with attention (general score, input feeding: every
   attention parameter and the step-by-step decoder), under ``"attention"`` in the report.

    python benchmarks/device_check.py --device cuda --output DIR   # on the GPU machine
    python benchmarks/device_check.py --device cpu --output DIR    # here: checks itself

Needs Multi30k's training text and the test2016 1000-best list ($RESCORE_SHARED_DATA/multi30k-en-fr,
or ``--data`` with the same layout). Writes DIR/device_check.json and prints it.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rescore.nbest import read_nbest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # pipelines/: the shared data
from pipelines.engine.paths import multi30k_dir

TINY = ["--preset", "cpu-tiny", "--threads", "1", "--no-progress", "--seed", "7",
        "--log-every", "5", "--checkpoint-every", "1000"]


def cli(name: str, *args: object) -> None:
    """``python -m rescore.cli.NAME ARGS``; its stderr is shown if it fails."""
    result = subprocess.run([sys.executable, "-m", f"rescore.cli.{name}", *map(str, args)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"rescore-{name} failed:\n{result.stderr[-3000:]}")


def head(source: Path, target: Path, lines: int) -> Path:
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", encoding="utf-8") as f:
        target.write_text("".join(itertools.islice(f, lines)), encoding="utf-8")
    return target


def nbest_head(source: Path, target: Path, sentences: int) -> Path:
    with gzip.open(source, "rt", encoding="utf-8") as f:
        kept = itertools.takewhile(lambda ln: int(ln.split("|||", 1)[0]) < sentences, f)
        target.write_text("".join(kept), encoding="utf-8")
    return target


def losses(model: Path) -> np.ndarray:
    records = [json.loads(line) for line in (model / "log.jsonl").read_text().splitlines()]
    return np.array([r["loss_per_token"] for r in records if r.get("type") == "train"])


def weights(model: Path) -> dict[str, np.ndarray]:
    from rescore.model_dir import read_state

    _, state = read_state(model)
    return {k: v.float().numpy() for k, v in state.items()}


ATTENTION = ["--attention", "general", "--input-feeding"]


def compare(tmp: Path, device_name: str, train_args: list[object], nbest: Path,
            source: Path) -> dict[str, object]:
    """Train, score and search on the CPU and on ``device_name``; the differences."""
    tmp.mkdir()
    report: dict[str, object] = {}
    runs = {"cpu": ("cpu", "fp32"), "device": (device_name, "fp32")}
    if device_name != "cpu":
        runs["device-bf16"] = (device_name, "bf16")
    for name, (device, precision) in runs.items():
        cli("train", *train_args, "--device", device, "--precision", precision,
            "--output", tmp / name)
    cpu_loss, dev_loss = losses(tmp / "cpu"), losses(tmp / "device")
    w_cpu, w_dev = weights(tmp / "cpu"), weights(tmp / "device")
    report["training fp32"] = {
        "loss points": len(cpu_loss),
        "max relative loss difference": float(np.max(np.abs(dev_loss / cpu_loss - 1))),
        "max absolute weight difference": max(float(np.max(np.abs(w_cpu[k] - w_dev[k])))
                                              for k in w_cpu)}
    if "device-bf16" in runs:
        bf16 = losses(tmp / "device-bf16")
        report["training bf16 vs fp32 (device)"] = {
            "max relative loss difference": float(np.max(np.abs(bf16 / dev_loss - 1))),
            "final loss fp32": float(dev_loss[-1]), "final loss bf16": float(bf16[-1])}
    scores = {}
    for name, device in (("cpu", "cpu"), ("device", device_name)):
        out = tmp / f"{name}.nbest"
        cli("nbest", "--nbest", nbest, "--source", source, "--model", tmp / "cpu",
            "--device", device, "--threads", "1", "--output-nbest", out)
        scores[name] = np.concatenate([b.feature("LSTM0")[:, 0] for b in read_nbest(out)])
    report["scoring"] = {
        "entries": len(scores["cpu"]),
        "max absolute difference (nats)": float(np.max(np.abs(scores["cpu"]
                                                             - scores["device"])))}
    outputs = {}
    for name, device in (("cpu", "cpu"), ("device", device_name)):
        out, best = tmp / f"{name}.beam.nbest", tmp / f"{name}.beam.txt"
        cli("translate", "--input", source, "--model", tmp / "cpu", "--beam", 12,
            "--device", device, "--threads", "1", "--output", best, "--output-nbest", out)
        outputs[name] = (best.read_text(encoding="utf-8").splitlines(),
                         [b.totals for b in read_nbest(out)])
    same = sum(a == b for a, b in zip(outputs["cpu"][0], outputs["device"][0], strict=True))
    top = [abs(float(a[0]) - float(b[0]))
           for a, b in zip(outputs["cpu"][1], outputs["device"][1], strict=True)]
    report["beam search"] = {"sentences": len(outputs["cpu"][0]), "identical 1-best": same,
                             "max 1-best score difference": max(top)}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="the device checked against the CPU")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--data", type=Path, help="Multi30k folder (default: the shared one)")
    parser.add_argument("--steps", type=int, default=60, help="training updates compared")
    parser.add_argument("--sentences", type=int, default=20, help="n-best sentences scored")
    args = parser.parse_args()
    data = args.data or multi30k_dir()
    args.output.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"device": args.device, "updates": args.steps}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        text = {side: head(data / f"train.{side}.gz", tmp / f"train.{side}", 3000)
                for side in ("en", "fr")}
        valid = {side: head(data / f"val.{side}", tmp / f"val.{side}", 200)
                 for side in ("en", "fr")}
        corpus = ["--src-train", text["en"], "--tgt-train", text["fr"], "--src-valid",
                  valid["en"], "--tgt-valid", valid["fr"], "--max-steps", args.steps]
        nbest = nbest_head(data / "nbest" / "test2016.1000best.gz", tmp / "l.nbest",
                           args.sentences)
        source = head(data / "test2016.en", tmp / "test.en", args.sentences)
        report |= compare(tmp / "plain", args.device, [*TINY, *corpus], nbest, source)
        report["attention"] = compare(tmp / "attention", args.device,
                                      [*TINY, *corpus, *ATTENTION], nbest, source)
    path = args.output / "device_check.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
