"""A model directory from someone else never runs code: a crafted ``model.pt`` or
``checkpoint.pt`` whose unpickling would create a file is refused by every command that loads
models (one line naming it, exit 2) and the file is never created; model directories of
rescore < 0.3 (a pickled ``model.pt`` of tensors and a config dict) still load and convert;
a truncated or swapped weights file is named by its SHA-256 check."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from rescore import model_dir
from rescore.tensor_files import load_plain
from rescore.vocab import SPECIALS, Vocab
from tests.helpers import run_cli, write_tiny_model

WORDS = ["a", "b", "c", "d"]
VOCAB = Vocab([*SPECIALS, *WORDS])


class CreatesAFile:
    """Unpickling this calls ``open(path, "w")``: what a hostile model file would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"src": tmp_path / "src.txt", "nbest": tmp_path / "list.nbest",
             "marker": tmp_path / "PWNED"}
    paths["src"].write_text("a b\nc\n")
    paths["phrases"] = tmp_path / "phrases.txt"
    paths["phrases"].write_text("a b\nc\nd a\n")
    paths["nbest"].write_text("0 ||| a b ||| LM0= -1 ||| -1\n0 ||| b ||| LM0= -2 ||| -2\n"
                              "1 ||| c ||| LM0= -1 ||| -1\n")
    return paths


def legacy_dir(directory: Path, seed: int = 0) -> Path:
    """A model directory as rescore 0.2 wrote it: ``model.pt`` pickling the state dict and
    the model config, no SHA-256 in config.json."""
    write_tiny_model(directory, VOCAB, VOCAB, seed=seed)
    _, state = model_dir.read_state(directory)
    config = model_dir.load_config(directory)[0]
    torch.save({"model": state, "config": dataclasses.asdict(config)},
               directory / model_dir.LEGACY_MODEL)
    (directory / model_dir.MODEL).unlink()
    model_dir.update_config(directory, weights=None)
    return directory


def hostile(directory: Path, marker: Path, name: str, files: dict[str, Path]) -> Path:
    """A real training run's directory (config, vocabularies, data) with its weights replaced
    by a pickle that creates ``marker`` when read."""
    result = run_cli("rescore-train", "--preset", "cpu-tiny", "--src-train", files["src"],
                     "--tgt-train", files["src"], "--max-steps", "1", "--output", directory,
                     "--no-progress")
    assert result.returncode == 0, result.stderr
    (directory / model_dir.MODEL).unlink()
    (directory / model_dir.CHECKPOINT).unlink()
    torch.save({"model": CreatesAFile(marker), "progress": {"step": 1}}, directory / name)
    return directory


def commands(model: Path, f: dict[str, Path], out: Path) -> dict[str, list[str | Path]]:
    """Every command that loads a model directory, given ``model``."""
    return {
        "nbest": ["rescore-nbest", "--nbest", f["nbest"], "--source", f["src"], "--model",
                  model, "--output-nbest", out],
        "nbest-channel": ["rescore-nbest", "--nbest", f["nbest"], "--source", f["src"],
                          "--channel-model", model, "--output-nbest", out],
        "translate": ["rescore-translate", "--model", model, "--input", f["src"], "--output",
                      out],
        "report-figure": ["rescore-report", "--ref", f["src"], f"sys={f['src']}", "--model",
                          model, "--phrases", f["phrases"], "--output-prefix", out],
        "train-resume": ["rescore-train", "--resume", "--output", model, "--no-progress"],
        "model-info": ["rescore-model", "info", model],
        "model-convert": ["rescore-model", "convert", model],
    }


@pytest.mark.parametrize("name", [model_dir.LEGACY_MODEL, model_dir.CHECKPOINT])
def test_a_crafted_pickle_is_refused_by_every_command_and_runs_nothing(
        files: dict[str, Path], tmp_path: Path, name: str) -> None:
    model = hostile(tmp_path / "model", files["marker"], name, files)
    for command, argv in commands(model, files, tmp_path / "out").items():
        if command == "train-resume" and name != model_dir.CHECKPOINT:
            continue  # a resume reads the checkpoint
        result = run_cli(*argv)  # type: ignore[arg-type]
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert result.returncode == 2, (command, result.stderr)
        assert "Traceback" not in result.stderr and len(lines) == 1, (command, result.stderr)
        assert f"{model / name}: refused: it holds Python objects" in lines[0], command
        assert not files["marker"].exists(), f"{command} ran the pickle's code"
        assert not list(tmp_path.glob("out*")), command


def test_the_library_reader_refuses_it_too(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "c.pt"
    torch.save({"model": {"w": torch.ones(1)}, "x": CreatesAFile(marker)}, path)
    with pytest.raises(model_dir.RescoreError, match="refused"):
        load_plain(path)
    assert not marker.exists()
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(model_dir.RescoreError, match="corrupt or unreadable checkpoint"):
        load_plain(path)


def test_a_legacy_directory_loads_scores_the_same_and_converts(
        files: dict[str, Path], tmp_path: Path) -> None:
    new = write_tiny_model(tmp_path / "new", VOCAB, VOCAB, seed=0)
    old = legacy_dir(tmp_path / "old", seed=0)
    out = {}
    for name, directory in (("new", new), ("old", old)):
        result = run_cli("rescore-nbest", "--nbest", files["nbest"], "--source", files["src"],
                         "--model", directory, "--output-nbest", tmp_path / f"{name}.nbest")
        assert result.returncode == 0, result.stderr
        out[name] = (tmp_path / f"{name}.nbest").read_text()
    assert out["old"] == out["new"]
    result = run_cli("rescore-model", "convert", old)
    assert result.returncode == 0, result.stderr
    assert not (old / model_dir.LEGACY_MODEL).exists() and (old / model_dir.MODEL).exists()
    assert model_dir.recorded_sha256(old) is not None
    converted, fresh = model_dir.read_state(old)[1], model_dir.read_state(new)[1]
    assert converted.keys() == fresh.keys()
    assert all(torch.equal(converted[k], fresh[k]) for k in fresh)


def test_a_legacy_checkpoint_resumes_and_converts(tmp_path: Path) -> None:
    """A checkpoint of rescore 0.2 pickled numpy's RNG state as an array: still read (numpy's
    array reconstruction is the one addition to the allow-list) and rewritten as plain
    values by convert."""
    import numpy as np

    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=0)
    _, state = model_dir.read_state(directory)
    np.random.seed(5)
    expected = np.random.get_state()
    torch.save({"model": state, "rng": {"numpy": expected}}, directory / model_dir.CHECKPOINT)
    assert isinstance(load_plain(directory / model_dir.CHECKPOINT)["rng"]["numpy"], tuple)
    model_dir.convert(directory)
    rng = load_plain(directory / model_dir.CHECKPOINT)["rng"]["numpy"]
    assert isinstance(rng, dict) and isinstance(rng["keys"], torch.Tensor)
    from rescore.tensor_files import set_numpy_rng_state

    set_numpy_rng_state(rng)
    after = np.random.get_state()
    assert np.array_equal(after[1], expected[1]) and after[2:] == expected[2:]


def test_a_truncated_or_swapped_weights_file_is_named(files: dict[str, Path],
                                                       tmp_path: Path) -> None:
    model = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=0)
    other = write_tiny_model(tmp_path / "other", VOCAB, VOCAB, seed=1)
    weights = model / model_dir.MODEL
    original = weights.read_bytes()
    shutil.copyfile(other / model_dir.MODEL, weights)  # same shapes, other numbers
    for damaged in (None, original[: len(original) // 2]):
        if damaged is not None:
            weights.write_bytes(damaged)
        result = run_cli("rescore-nbest", "--nbest", files["nbest"], "--source", files["src"],
                         "--model", model, "--output-nbest", tmp_path / "o")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"{weights}: SHA-256" in result.stderr and "recorded in config.json" in \
            result.stderr
    weights.write_bytes(original)
    model_dir.load(model)


def test_new_weights_are_safetensors_readable_without_rescore(tmp_path: Path) -> None:
    from safetensors import safe_open

    model = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=0)
    with safe_open(str(model / model_dir.MODEL), framework="pt") as f:
        names = set(f.keys())
    assert names == set(model_dir.load(model).model.state_dict())
    record = json.loads((model / model_dir.CONFIG).read_text())["weights"]
    assert record["file"] == model_dir.MODEL and len(record["sha256"]) == 64


def test_tied_weights_are_stored_once_and_load(tmp_path: Path) -> None:
    from rescore.config import ModelConfig
    from rescore.model import Seq2Seq

    config = ModelConfig(src_vocab_size=len(VOCAB), tgt_vocab_size=len(VOCAB), embed_dim=8,
                         hidden_dim=8, num_layers=1, tie_embeddings=True)
    write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=0)
    torch.manual_seed(3)
    network = Seq2Seq(config)
    assert network.generator.weight is network.tgt_embed.weight
    cfg = model_dir.load_config(tmp_path / "m")
    model_dir.save_config(tmp_path / "m", config, cfg[1], cfg[2])
    model_dir.save_weights(network, tmp_path / "m")
    loaded = model_dir.load(tmp_path / "m").model
    assert loaded.generator.weight is loaded.tgt_embed.weight
    assert torch.equal(loaded.generator.weight, network.generator.weight)
    assert model_dir.parameter_count(config) == sum(p.numel() for p in network.parameters())


def test_unsafe_writers_are_gone() -> None:
    """No library code unpickles: the only torch.load is the weights-only reader."""
    root = Path(model_dir.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "weights_only=False" not in text, path
        assert "import pickle" not in text or path.name == "tensor_files.py", path
        if "torch.load(" in text:
            assert path.name == "tensor_files.py", path
    assert "weights_only=True" in (root / "tensor_files.py").read_text()


def test_files_of_the_wrong_kind_are_plain_messages(files: dict[str, Path],
                                                    tmp_path: Path) -> None:
    """Every other file a command deserialises is JSON, text or parquet (no code), and one of
    the wrong kind is one line, not a KeyError or a traceback."""
    weights = tmp_path / "w.json"
    weights.write_text('{"LM0": 1.0}')
    report = tmp_path / "w.report.json"
    report.write_text('{"method": "mert", "weights": {"LM0": 1.0}}')
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    cases = [
        (["rescore-mbr", "--nbest", files["nbest"], "--weights", weights, "--scale-from",
          weights, "--output-1best", tmp_path / "o"],
         "not a report of rescore-tune --method mbr-scale (no 'method' in it"),
        (["rescore-nbest", "--nbest", files["nbest"], "--weights", report, "--output-1best",
          tmp_path / "o"], "a report of rescore-tune --method mert, not weights"),
        (["rescore-report", "--spec", listed], "invalid report spec (a JSON list"),
        (["rescore-report", "--ref", files["src"], f"s={files['src']}", "--oracle", weights,
          "--output-prefix", tmp_path / "o"], "not a report of rescore-oracle"),
    ]
    for argv, words in cases:
        result = run_cli(*argv)  # type: ignore[arg-type]
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert words in lines[0], lines[0]
        assert not list(tmp_path.glob("o*"))


def test_a_feature_table_cache_of_another_kind_is_rebuilt(files: dict[str, Path],
                                                          tmp_path: Path) -> None:
    from rescore.feature_table import load_table

    refs = ["a b", "c"]
    cache = tmp_path / "cache.parquet"
    fresh = load_table(files["nbest"], refs, None)
    for junk in (b"PAR1 not parquet", Path(__file__).read_bytes()):
        cache.write_bytes(junk)
        table = load_table(files["nbest"], refs, cache)
        assert (table.values == fresh.values).all() and (table.stats == fresh.stats).all()
    assert load_table(files["nbest"], refs, cache).values.shape == fresh.values.shape
