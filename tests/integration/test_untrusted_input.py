"""Nothing a user hands rescore may hang it, exhaust memory, overwrite its input or end in a
traceback: every row of issue 40's table, as a user would meet it (tiny models, generated
files). Each failure is exit 2 with one line on stderr naming the file, no traceback, no
output written, the inputs byte-identical; where a hang or an allocation is the risk, the
command runs as a process under a timeout and an address-space limit."""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rescore import model_dir
from rescore.beam import Ensemble, SearchConfig, beam_search
from rescore.errors import RescoreError
from rescore.model import Seq2Seq
from rescore.tensor_files import load_tensors, save_tensors
from rescore.vocab import SPECIALS, Vocab
from tests.helpers import SUBPROCESS_ENV, run_cli, write_tiny_model

WORDS = ["a", "b", "c", "d"]
VOCAB = Vocab([*SPECIALS, *WORDS])
LIST = ("0 ||| a b ||| LM0= -1 WordPenalty0= -2 ||| -3\n"
        "0 ||| b ||| LM0= -2 WordPenalty0= -1 ||| -3.5\n"
        "1 ||| c ||| LM0= -1 WordPenalty0= -1 ||| -2\n")
WEIGHTS = '{"LM0": [1.0], "WordPenalty0": [0.5]}\n'
MEMORY_LIMIT = 3 << 30  # address space of a command run as a process where memory is the risk


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"src": tmp_path / "src.txt", "nbest": tmp_path / "list.nbest",
             "weights": tmp_path / "w.json", "ref": tmp_path / "ref.txt",
             "out": tmp_path / "out"}
    paths["src"].write_text("a b\nc\n")
    paths["ref"].write_text("a b\nc\n")
    paths["nbest"].write_text(LIST)
    paths["weights"].write_text(WEIGHTS)
    paths["out"].mkdir()
    return paths


def snapshot(paths: list[Path]) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths if p.is_file()}


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 2, one line on stderr holding every word, no traceback."""
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()
             and "warning:" not in ln]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    for word in words:
        assert str(word) in lines[0], (word, lines[0])
    return lines[0]


def limited_process(command: str, *args: str | Path,
                    timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The command as a process, its address space capped at :data:`MEMORY_LIMIT` and its
    time at ``timeout``: a hang or an allocation of hundreds of GB fails the test."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    module = "rescore.cli." + command.removeprefix("rescore-")
    return subprocess.run([sys.executable, "-m", module, *map(str, args)],
                          capture_output=True, text=True, check=False, env=SUBPROCESS_ENV,
                          preexec_fn=limit, timeout=timeout)


def model(tmp_path: Path, name: str = "m", seed: int = 0, **kw: object) -> Path:
    return write_tiny_model(tmp_path / name, VOCAB, VOCAB, seed=seed, attention="dot", **kw)


def edit_config(directory: Path, section: str | None, key: str, value: object) -> None:
    path = directory / model_dir.CONFIG
    data = json.loads(path.read_text())
    (data[section] if section else data)[key] = value
    path.write_text(json.dumps(data))


def model_commands(directory: Path, files: dict[str, Path]) -> list[list[str | Path]]:
    """Every command that loads a model directory, writing into the out folder."""
    out = files["out"]
    return [
        ["rescore-nbest", "--nbest", files["nbest"], "--source", files["src"], "--model",
         directory, "--output-nbest", out / "o.nbest"],
        ["rescore-translate", "--model", directory, "--input", files["src"], "--output",
         out / "o.txt"],
        ["rescore-model", "info", directory],
    ]


def check_every_command(directory: Path, files: dict[str, Path], *words: str,
                        process: bool = False) -> None:
    for argv in model_commands(directory, files):
        command, *args = argv
        result = (limited_process(str(command), *args) if process
                  else run_cli(str(command), *args))
        one_line_error(result, *words)
        assert not list(files["out"].iterdir()), argv


# -- 1. model directories are validated before anything is built from them ----------------

@pytest.mark.parametrize(("section", "key", "value", "words"), [
    ("model", "hidden_dim", 200_000, "hidden_dim must be in [1, 65536]"),
    ("model", "src_vocab_size", 3_000_000_000, "src_vocab_size must be in"),
    ("model", "hidden_dim", "32", "hidden_dim must be an integer, not '32'"),
    ("model", "embed_dim", 2.0, "embed_dim must be an integer, not 2.0"),
    ("model", "num_layers", 0, "num_layers must be in [1, 64], not 0"),
    ("model", "num_layers", -32, "num_layers must be in [1, 64], not -32"),
    ("model", "hidden_dim", [32], "hidden_dim must be an integer, not [32]"),
    ("model", "reverse_target", "false", "reverse_target must be true or false, not 'false'"),
    ("train", "max_len", "100", "max_len must be an integer, not '100'"),
    ("model", "dropout", math.inf, "invalid JSON: the number"),
    ("model", "colour", "blue", "unknown key(s) colour"),
])
def test_a_config_json_out_of_its_schema_is_one_error(
        tmp_path: Path, files: dict[str, Path], section: str, key: str, value: object,
        words: str) -> None:
    directory = model(tmp_path)
    text = json.dumps(json.loads((directory / model_dir.CONFIG).read_text()) | {})
    data = json.loads(text)
    data[section][key] = value
    (directory / model_dir.CONFIG).write_text(
        json.dumps(data).replace("Infinity", "1e999"))  # JSON has no infinity: 1e999 is one
    before = snapshot(list(directory.iterdir()))
    check_every_command(directory, files, str(directory / model_dir.CONFIG), words,
                        process=key == "hidden_dim" and value == 200_000)
    assert snapshot(list(directory.iterdir())) == before


def test_a_config_that_lacks_a_size_is_named(tmp_path: Path, files: dict[str, Path]) -> None:
    directory = model(tmp_path)
    data = json.loads((directory / model_dir.CONFIG).read_text())
    del data["model"]["hidden_dim"]
    (directory / model_dir.CONFIG).write_text(json.dumps(data))
    check_every_command(directory, files, "lacks hidden_dim")


def test_sizes_that_fit_the_schema_but_not_the_weights_allocate_nothing(
        tmp_path: Path, files: dict[str, Path]) -> None:
    """60,000 cells is within the schema's range but 4 x 60,000^2 floats are 58 GB: the
    safetensors header is compared with the config before any tensor exists (under a 3 GB
    address-space limit)."""
    directory = model(tmp_path)
    edit_config(directory, "model", "hidden_dim", 60_000)
    edit_config(directory, "model", "embed_dim", 60_000)
    check_every_command(directory, files, "weights do not match its config.json", "has shape",
                        process=True)


def test_a_changed_vocabulary_is_named_by_its_sha256(tmp_path: Path,
                                                     files: dict[str, Path]) -> None:
    directory = model(tmp_path)
    vocab = directory / model_dir.SRC_VOCAB
    lines = vocab.read_text().splitlines()
    lines[5], lines[6] = lines[6], lines[5]
    vocab.write_text("\n".join(lines) + "\n")
    check_every_command(directory, files, f"{vocab}: SHA-256", "recorded in config.json")


def test_a_vocabulary_shorter_than_the_model_is_named(tmp_path: Path,
                                                      files: dict[str, Path]) -> None:
    """Even with its SHA-256 recorded anew (someone edited both): the length is checked
    against the embedding size."""
    directory = model(tmp_path)
    vocab = directory / model_dir.TGT_VOCAB
    vocab.write_text("".join(w + "\n" for w in VOCAB.words[:-1]))
    model_dir.update_config(directory, files=model_dir.file_digests(directory))
    check_every_command(directory, files, str(vocab), "7 entries", "8 (its tgt_vocab_size)")


def test_a_missing_subword_model_is_named(tmp_path: Path, files: dict[str, Path]) -> None:
    directory = model(tmp_path)
    model_dir.update_config(directory, subwords={"type": "bpe", "source": 8, "target": 8})
    check_every_command(directory, files, str(directory / model_dir.SRC_SPM), "missing")


@pytest.mark.parametrize("kind", ["symlink to /dev/zero", "fifo", "symlink out"])
def test_a_model_file_that_is_no_regular_file_inside_the_directory_is_refused(
        tmp_path: Path, files: dict[str, Path], kind: str) -> None:
    """Under a timeout and a memory limit: reading /dev/zero or a FIFO would fill memory or
    hang."""
    directory = model(tmp_path)
    vocab = directory / model_dir.SRC_VOCAB
    outside = tmp_path / "elsewhere.vocab"
    outside.write_bytes(vocab.read_bytes())
    vocab.unlink()
    if kind == "fifo":
        os.mkfifo(vocab)
        words = "a FIFO, not a regular file"
    elif kind == "symlink out":
        vocab.symlink_to(outside)
        words = "outside"
    else:
        vocab.symlink_to("/dev/zero")
        words = "outside"  # /dev/zero lies outside the directory: refused before its kind
    check_every_command(directory, files, str(vocab), words, process=True)


def test_a_directory_without_recorded_sha256_loads_with_a_warning(
        tmp_path: Path, files: dict[str, Path]) -> None:
    directory = model(tmp_path)
    model_dir.update_config(directory, files=None, weights=None)
    result = run_cli("rescore-model", "info", directory)
    assert result.returncode == 0, result.stderr
    warning = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(warning) == 1 and "records no SHA-256" in warning[0], result.stderr


# -- 2. numbers are finite everywhere they enter --------------------------------------------

def nan_model(tmp_path: Path) -> Path:
    """A model whose weights hold NaN, its SHA-256 recorded anew so that it loads that far."""
    directory = model(tmp_path, "nan")
    path = directory / model_dir.MODEL
    state = load_tensors(path)
    state["generator.weight"][0, 0] = float("nan")
    digest = save_tensors(state, path)
    model_dir.update_config(directory, weights={"file": model_dir.MODEL, "sha256": digest})
    return directory


def test_nan_weights_are_one_error_naming_the_model(tmp_path: Path,
                                                    files: dict[str, Path]) -> None:
    directory = nan_model(tmp_path)
    for argv in model_commands(directory, files):
        command, *args = argv
        result = limited_process(str(command), *args, timeout=120)
        one_line_error(result, str(directory / model_dir.MODEL), "NaN")
    assert not list(files["out"].iterdir())


class NaNModel(torch.nn.Module):
    """A decoder whose every next-word score is NaN (finite weights can overflow to it)."""

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.zeros(src.shape[0])

    def step(self, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.full((prev.shape[0], 8), float("nan")), state

    def select_state(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state[index]


def test_nan_scores_stop_beam_search_with_the_models_name() -> None:
    ensemble = Ensemble([NaNModel()], names=["models/broken"])
    with pytest.raises(RescoreError, match="models/broken: the model gives NaN"):
        beam_search(ensemble, [np.array([4, 5])], SearchConfig(beam=3))


class NeverEnds(NaNModel):
    """A decoder that always prefers any word to </s>, which is -inf: without the length
    limit it would never finish."""

    def step(self, prev: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = torch.zeros(prev.shape[0], 8)
        scores[:, 3] = -math.inf
        return scores, state


def test_beam_search_always_ends() -> None:
    results = beam_search(Ensemble([NeverEnds()]), [np.array([4, 5])],
                          SearchConfig(beam=3, max_len_a=0, max_len_b=5))
    assert results == [[]]


@pytest.mark.parametrize(("name", "text", "words"), [
    ("w.ini", "[weight]\nLM0= nan\nWordPenalty0= 1\n", "w.ini:2: non-finite weight"),
    ("w.ini", "[weight]\nLM0= 1\nWordPenalty0= -inf\n", "w.ini:3: non-finite weight"),
    ("w.json", '{"LM0": [NaN], "WordPenalty0": [1]}', "NaN is not a finite number"),
    ("w.json", '{"LM0": [Infinity], "WordPenalty0": [1]}', "Infinity is not a finite"),
    ("w.json", '{"LM0": [1e999], "WordPenalty0": [1]}', "too large for a float"),
    ("w.json", '{"LM0": [' + "7" * 5000 + '], "WordPenalty0": [1]}', "5000 digits"),
    ("w.json", '{"LM0": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested 100001 deep"),
])
def test_weights_that_are_no_finite_numbers_are_refused(
        tmp_path: Path, files: dict[str, Path], name: str, text: str, words: str) -> None:
    weights = tmp_path / name
    weights.write_text(text)
    out = files["out"] / "o.1best"
    for command, args in (("rescore-nbest", ["--nbest", files["nbest"], "--weights", weights,
                                             "--output-1best", out]),
                          ("rescore-mbr", ["--nbest", files["nbest"], "--weights", weights,
                                           "--output-1best", out])):
        one_line_error(run_cli(command, *args), str(weights), words)
        assert not out.exists()


def test_a_config_json_nested_without_bound_is_refused(tmp_path: Path,
                                                       files: dict[str, Path]) -> None:
    directory = model(tmp_path)
    edit_config(directory, None, "notes", "PLACEHOLDER")
    path = directory / model_dir.CONFIG
    path.write_text(path.read_text().replace('"PLACEHOLDER"', "[" * 100_000 + "]" * 100_000))
    check_every_command(directory, files, str(path), "nested 100001 deep")


@pytest.mark.parametrize("option", [["--scale", "nan"], ["--scale", "inf"]])
def test_scales_must_be_finite(files: dict[str, Path], option: list[str]) -> None:
    result = run_cli("rescore-mbr", "--nbest", files["nbest"], "--weights", files["weights"],
                     "--output-1best", files["out"] / "o", *option)
    assert result.returncode == 2 and "finite" in result.stderr
    assert "Traceback" not in result.stderr


def test_tune_scales_must_be_finite(files: dict[str, Path]) -> None:
    result = run_cli("rescore-tune", "--method", "mbr-scale", "--nbest", files["nbest"],
                     "--ref", files["ref"], "--init-weights", files["weights"], "--scales",
                     "1,nan", "--output", files["out"] / "w.json")
    one_line_error(result, "--scales", "positive finite")


# -- 3. inputs are never outputs --------------------------------------------------------------

def overwrite_cases(files: dict[str, Path], tmp_path: Path) -> list[tuple[str, list[object],
                                                                          Path]]:
    """(command, arguments, the input named as an output)."""
    d = model(tmp_path)
    link = tmp_path / "link.nbest"
    link.symlink_to(files["nbest"])
    report = tmp_path / "rep"
    system = Path(f"{report}.md")
    system.write_text("a b\nc\n")
    return [
        ("rescore-nbest", ["--nbest", files["nbest"], "--output-1best", files["nbest"]],
         files["nbest"]),
        ("rescore-nbest", ["--nbest", files["nbest"], "--output-nbest", link], link),
        ("rescore-nbest", ["--nbest", files["nbest"], "--source", files["src"], "--model", d,
                           "--output-1best", files["src"]], files["src"]),
        ("rescore-oracle", ["--nbest", files["nbest"], "--ref", files["ref"], "--output",
                            files["ref"]], files["ref"]),
        ("rescore-translate", ["--model", d, "--input", files["src"], "--output",
                               files["src"]], files["src"]),
        ("rescore-mbr", ["--nbest", files["nbest"], "--weights", files["weights"],
                         "--output-nbest", files["weights"]], files["weights"]),
        ("rescore-report", ["--ref", files["ref"], f"s={system}", "--output-prefix", report],
         system),
        ("rescore-tune", ["--nbest", files["nbest"], "--ref", files["ref"], "--output",
                          files["nbest"]], files["nbest"]),
    ]


def test_no_command_overwrites_its_input(tmp_path: Path, files: dict[str, Path]) -> None:
    for command, args, victim in overwrite_cases(files, tmp_path):
        before = snapshot([files["nbest"], files["src"], files["ref"], files["weights"],
                           Path(f"{tmp_path / 'rep'}.md")])
        result = run_cli(command, *args)  # type: ignore[arg-type]
        one_line_error(result, str(victim), "refusing to overwrite an input")
        assert snapshot(list(before)) == before, command


def moses_ini(tmp_path: Path) -> Path:
    ini = tmp_path / "moses.ini"
    ini.write_text("[feature]\nKENLM name=LM0 path=lm.bin\n\n[weight]\nLM0= 0.5\n"
                   "WordPenalty0= -0.2\n\n[distortion-limit]\n6\n")
    return ini


def test_tune_never_replaces_the_moses_config_it_starts_from(tmp_path: Path,
                                                             files: dict[str, Path]) -> None:
    """From a user's report: --init-weights moses.ini --output moses.json rewrote moses.ini
    as a [weight] section (the .ini written beside the output)."""
    ini = moses_ini(tmp_path)
    before = ini.read_bytes()
    result = run_cli("rescore-tune", "--nbest", files["nbest"], "--ref", files["ref"],
                     "--init-weights", ini, "--output", tmp_path / "moses.json")
    one_line_error(result, str(ini), "--output-ini", "--init-weights")
    assert ini.read_bytes() == before and not (tmp_path / "moses.json").exists()
    # named elsewhere, it runs; and an .ini --output is a Moses ini
    ok = run_cli("rescore-tune", "--nbest", files["nbest"], "--ref", files["ref"],
                 "--init-weights", ini, "--output", tmp_path / "moses.json", "--output-ini",
                 tmp_path / "tuned.ini", "--restarts", "0", "--iterations", "2")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "tuned.ini").read_text().startswith("[weight]")
    assert json.loads((tmp_path / "moses.json").read_text())
    as_ini = run_cli("rescore-tune", "--nbest", files["nbest"], "--ref", files["ref"],
                     "--init-weights", ini, "--output", tmp_path / "t.ini", "--restarts", "0",
                     "--iterations", "2")
    assert as_ini.returncode == 0, as_ini.stderr
    assert (tmp_path / "t.ini").read_text().startswith("[weight]")
    assert ini.read_bytes() == before


def test_the_tuning_cache_is_rebuilt_for_another_list(tmp_path: Path,
                                                      files: dict[str, Path]) -> None:
    """From a user's report: a second run with the same --output on another, OLDER list
    started from the first list's cached features. The cache records the list's SHA-256."""
    first, second = tmp_path / "first.nbest", tmp_path / "second.nbest"
    first.write_text(LIST)
    # the same sentences, LM0 reversed in sign: the tuned choice changes
    second.write_text(LIST.replace("LM0= -1", "LM0= -9").replace("LM0= -2", "LM0= -1"))
    os.utime(second, (1_000_000, 1_000_000))  # older than the cache
    args = ["--ref", files["ref"], "--method", "mert", "--restarts", "0", "--iterations", "2"]
    assert run_cli("rescore-tune", "--nbest", first, *args, "--output",
                   tmp_path / "w.json").returncode == 0
    again = run_cli("rescore-tune", "--nbest", second, *args, "--output", tmp_path / "w.json")
    fresh = run_cli("rescore-tune", "--nbest", second, *args, "--output",
                    tmp_path / "fresh.json")
    assert again.returncode == 0 and fresh.returncode == 0, again.stderr + fresh.stderr
    assert "built from another list" in again.stderr
    assert (tmp_path / "w.json").read_text() == (tmp_path / "fresh.json").read_text()


# -- 4. bounded work ----------------------------------------------------------------------

def test_an_id_gap_without_source_is_refused_quickly(tmp_path: Path,
                                                     files: dict[str, Path]) -> None:
    nbest = tmp_path / "gap.nbest"
    nbest.write_text(LIST + "99999999999 ||| d ||| LM0= -1 WordPenalty0= -1 ||| -2\n")
    result = limited_process("rescore-nbest", "--nbest", nbest, "--missing", "empty",
                             "--output-1best", files["out"] / "o", timeout=60)
    one_line_error(result, f"{nbest}:4", "a gap of more than 1,000,000")
    assert not list(files["out"].iterdir())


def test_a_line_with_too_many_values_is_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    nbest = tmp_path / "wide.nbest"
    nbest.write_text(LIST.replace("1 ||| c ||| LM0= -1", "1 ||| c ||| LM0= " +
                                  " ".join(["-1"] * 100_000)))
    result = limited_process("rescore-nbest", "--nbest", nbest, "--output-1best",
                             files["out"] / "o", timeout=60)
    one_line_error(result, f"{nbest}:3", "on one line (at most 10,000 values)")


def test_sparse_features_that_explode_the_table_are_refused(tmp_path: Path,
                                                            files: dict[str, Path]) -> None:
    nbest = tmp_path / "sparse.nbest"
    lines = [f"0 ||| w{i} ||| F{i}= 1 ||| -1\n" for i in range(20_000)]
    nbest.write_text("".join(lines))
    result = limited_process("rescore-nbest", "--nbest", nbest, "--output-1best",
                             files["out"] / "o", timeout=60)
    one_line_error(result, str(nbest), "distinct features")


def test_a_file_without_line_ends_is_refused(tmp_path: Path, files: dict[str, Path]) -> None:
    result = limited_process("rescore-nbest", "--nbest", "/dev/zero", "--output-1best",
                             files["out"] / "o", timeout=60)
    one_line_error(result, "/dev/zero:1", "a line longer than")


# -- the rest of the table ------------------------------------------------------------------

def test_a_log_cut_short_is_skipped_with_a_warning(tmp_path: Path,
                                                   files: dict[str, Path]) -> None:
    directory = model(tmp_path)
    (directory / model_dir.LOG).write_text(
        '{"type": "valid", "step": 10, "epoch": 0.5, "ppl": 9.5}\n{"type": "valid", "st')
    result = run_cli("rescore-model", "info", directory)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["validation perplexity"] == 9.5
    assert f"{directory / model_dir.LOG}:2: not a JSON record" in result.stderr
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"ref": str(files["ref"]), "tables": [{"title": "t", "systems": [
        {"name": "s", "file": str(files["ref"])}]}], "models": [{"name": "m",
                                                                  "dir": str(directory)}]}))
    report = run_cli("rescore-report", "--spec", spec, "--output-prefix", files["out"] / "r")
    assert report.returncode == 0 and "Traceback" not in report.stderr, report.stderr


def kept(directory: Path, states: list[dict[str, torch.Tensor]]) -> None:
    """Checkpoints kept as rescore-train --keep-checkpoints keeps them."""
    (directory / model_dir.KEPT).mkdir()
    records = []
    for i, state in enumerate(states, 1):
        name = f"{model_dir.KEPT}/step-{i:07d}.safetensors"
        save_tensors(state, directory / name)
        records.append(json.dumps({"type": "valid", "step": i, "epoch": i, "ppl": 5.0,
                                   "checkpoint": name}))
    (directory / model_dir.LOG).write_text("\n".join(records) + "\n")


@pytest.mark.parametrize("broken", ["nan", "shape"])
def test_averaging_broken_checkpoints_is_refused(tmp_path: Path, broken: str) -> None:
    directory = model(tmp_path)
    good = load_tensors(directory / model_dir.MODEL)
    bad = {k: v.clone() for k, v in good.items()}
    if broken == "nan":
        bad["generator.bias"][0] = float("nan")
        words = "NaN"
    else:
        bad["generator.bias"] = torch.zeros(3)
        words = "has shape [3]"
    kept(directory, [good, bad])
    result = run_cli("rescore-model", "average", directory, "--last", "2", "--output",
                     tmp_path / "avg")
    one_line_error(result, "step-0000002.safetensors", words)
    assert not (tmp_path / "avg").exists()


def test_mbr_refuses_a_feature_name_the_list_has(tmp_path: Path, files: dict[str, Path]) -> None:
    out = files["out"] / "mbr.nbest"
    result = run_cli("rescore-mbr", "--nbest", files["nbest"], "--weights", files["weights"],
                     "--feature", "LM0", "--output-nbest", out)
    one_line_error(result, f"{files['nbest']}:1", "already has a feature 'LM0'")
    first = run_cli("rescore-mbr", "--nbest", files["nbest"], "--weights", files["weights"],
                    "--output-nbest", out)
    assert first.returncode == 0, first.stderr
    weights = tmp_path / "w2.json"
    weights.write_text('{"LM0": [1.0], "WordPenalty0": [0.5], "MBR0": [1.0]}')
    again = run_cli("rescore-mbr", "--nbest", out, "--weights", weights, "--output-nbest",
                    files["out"] / "again.nbest")
    one_line_error(again, str(out), "already has a feature 'MBR0'")


# -- 5. one clear line for every other failure ----------------------------------------------

def test_an_unexpected_error_is_one_line_naming_the_input(monkeypatch: pytest.MonkeyPatch,
                                                         files: dict[str, Path]) -> None:
    import rescore.cli.nbest as cli

    def broken(request: object) -> None:
        from rescore.files import note_input

        note_input(files["nbest"])
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "run_nbest", broken)
    result = run_cli("rescore-nbest", "--nbest", files["nbest"], "--output-1best",
                     files["out"] / "o")
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("rescore-nbest: internal error while reading ")
    assert str(files["nbest"]) in lines[0] and "ZeroDivisionError" in lines[0]
    assert "--debug" in lines[0]
    monkeypatch.delenv("RESCORE_DEBUG", raising=False)
    with pytest.raises(ZeroDivisionError):
        cli.main(["--nbest", str(files["nbest"]), "--output-1best", str(files["out"] / "o"),
                  "--debug"])
    monkeypatch.setenv("RESCORE_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["--nbest", str(files["nbest"]), "--output-1best", str(files["out"] / "o")])


def test_a_tiny_model_still_loads_and_scores(tmp_path: Path, files: dict[str, Path]) -> None:
    """The checks pass a model rescore wrote: the same scores as the network itself."""
    directory = model(tmp_path)
    result = run_cli("rescore-nbest", "--nbest", files["nbest"], "--source", files["src"],
                     "--model", directory, "--output-nbest", files["out"] / "o.nbest")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    loaded = model_dir.load(directory)
    assert isinstance(loaded.model, Seq2Seq)


def test_convert_records_what_an_older_directory_lacks(tmp_path: Path) -> None:
    directory = model(tmp_path)
    model_dir.update_config(directory, files=None, weights=None)
    result = run_cli("rescore-model", "convert", directory)
    assert result.returncode == 0, result.stderr
    extra = model_dir.load_config(directory)[2]
    assert set(extra["files"]) == {model_dir.SRC_VOCAB, model_dir.TGT_VOCAB}
    assert extra["weights"]["sha256"] == model_dir.sha256_of(directory / model_dir.MODEL)
    info = run_cli("rescore-model", "info", directory)
    assert info.returncode == 0 and "warning" not in info.stderr, info.stderr
