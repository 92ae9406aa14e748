"""The model directory: one module writes and reads it; loading round-trips the weights and
vocabularies, and an ensemble of mismatched vocabularies is refused."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from rescore import model_dir
from rescore.errors import RescoreError
from rescore.tensor_files import save_plain
from rescore.vocab import SPECIALS, Vocab
from tests.helpers import write_tiny_model

VOCAB = Vocab([*SPECIALS, "a", "b", "c"])


def test_load_round_trips_weights_vocabularies_and_config(tmp_path: Path) -> None:
    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=3, max_len=17)
    loaded = model_dir.load(directory)
    _, saved = model_dir.read_state(directory)
    for name, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, saved[name])
    assert not loaded.model.training  # ready for inference
    assert loaded.src_vocab.words == VOCAB.words and loaded.train_config.max_len == 17
    assert loaded.tokenize == "none" and loaded.device == torch.device("cpu")


def test_checkpoint_is_used_until_training_finished(tmp_path: Path) -> None:
    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=3)
    _, state = model_dir.read_state(directory)
    save_plain({"model": state, "progress": {"step": 3}}, directory / model_dir.CHECKPOINT)
    (directory / model_dir.MODEL).unlink()
    assert model_dir.weights_path(directory).name == model_dir.CHECKPOINT
    model_dir.load(directory)


def test_bad_directories_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RescoreError, match=r"no config\.json in it"):
        model_dir.load(tmp_path)
    with pytest.raises(RescoreError, match="nowhere: no such model directory"):
        model_dir.load(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RescoreError, match="a file, not a model directory"):
        model_dir.load(tmp_path / "file")
    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=3)
    config = json.loads((directory / model_dir.CONFIG).read_text())
    config["model"]["hidden_dim"] = 9
    (directory / model_dir.CONFIG).write_text(json.dumps(config))
    with pytest.raises(RescoreError, match="weights do not match"):
        model_dir.load(directory)


def test_model_dirs_written_before_attention_load_as_none(tmp_path: Path) -> None:
    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=3)
    config = json.loads((directory / model_dir.CONFIG).read_text())
    del config["model"]["attention"], config["model"]["input_feeding"]
    (directory / model_dir.CONFIG).write_text(json.dumps(config))
    loaded = model_dir.load(directory)
    assert loaded.model.config.attention == "none" and not loaded.model.attends
    assert model_dir.describe(directory)["attention"] == "none"


def test_an_attention_type_this_version_does_not_know_is_one_clear_error(
        tmp_path: Path) -> None:
    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=3, attention="dot")
    assert model_dir.load(directory).model.attends
    config = json.loads((directory / model_dir.CONFIG).read_text())
    config["model"]["attention"] = "multihead"
    (directory / model_dir.CONFIG).write_text(json.dumps(config))
    with pytest.raises(RescoreError) as err:
        model_dir.load(directory)
    assert str(err.value) == (f"{directory / model_dir.CONFIG}: \"model\": unknown attention type "
                              "'multihead' (this version of rescore knows none, dot, general, "
                              "concat)")


def test_an_ensemble_needs_equal_vocabularies(tmp_path: Path) -> None:
    one = model_dir.load(write_tiny_model(tmp_path / "one", VOCAB, VOCAB, seed=1))
    two = model_dir.load(write_tiny_model(tmp_path / "two", VOCAB, VOCAB, seed=2))
    model_dir.check_compatible([one, two])
    other = Vocab([*SPECIALS, "a", "b", "d"])
    three = model_dir.load(write_tiny_model(tmp_path / "three", VOCAB, other, seed=3))
    with pytest.raises(RescoreError, match="an ensemble needs equal vocabularies"):
        model_dir.check_compatible([one, three])


def test_parameter_count_without_building_the_model(tmp_path: Path) -> None:
    from rescore.config import PRESETS
    from rescore.model import Seq2Seq, count_parameters

    for name in ("cpu-tiny", "cpu-multi30k", "cpu-deep", "cpu-attention"):
        config = PRESETS[name].model
        assert model_dir.parameter_count(config) == count_parameters(Seq2Seq(config)), name
    small = PRESETS["cpu-tiny"].model
    for kind, feeding in (("dot", False), ("general", True), ("concat", False),
                          ("concat", True)):
        config = dataclasses.replace(small, attention=kind, input_feeding=feeding)
        assert model_dir.parameter_count(config) == count_parameters(Seq2Seq(config)), kind
    directory = write_tiny_model(tmp_path / "m", VOCAB, VOCAB, seed=3)
    (directory / model_dir.LOG).write_text(
        '{"type": "train", "step": 1}\n{"type": "valid", "ppl": 12.345, "epoch": 0.5}\n')
    info = model_dir.describe(directory)
    assert info["validation perplexity"] == 12.35 and info["at epoch"] == 0.5
    assert info["shape"].startswith("1 x 8 LSTM") and info["parameters"] > 0


def test_the_shape_check_builds_no_compiler(tmp_path: Path) -> None:
    """The meta-device model that checks a weights file's shapes initialises nothing: torch's
    meta kernels for normal_ and arange are Python decompositions that import torch._dynamo
    (seconds of every command's start-up). Both architectures, in a fresh process."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from rescore.config import ModelConfig\n"
        "from rescore.model_dir import expected_tensors\n"
        "for arch in ('lstm', 'transformer'):\n"
        "    shapes, _ = expected_tensors(ModelConfig(arch=arch, src_vocab_size=50,\n"
        "                                             tgt_vocab_size=60, hidden_dim=32,\n"
        "                                             embed_dim=32, heads=2, ff_dim=64))\n"
        "    assert shapes, arch\n"
        "print('torch._dynamo' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
