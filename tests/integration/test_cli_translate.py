"""rescore-translate end to end on real Multi30k sources with tiny random-init models: outputs
aligned with the input, n-best lists that rescore-nbest reads and rescores to the same numbers,
batching that changes nothing, and bad input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sacremoses import MosesDetokenizer

from rescore import model_dir, scoring
from rescore.nbest import read_nbest
from rescore.vocab import UNK_ID, Vocab
from tests.helpers import IN_PROCESS, run_cli, write_tiny_model

SENTENCES = 10


@pytest.fixture(scope="module")
def setup(multi30k: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("translate")
    src = (multi30k / "test2016.en").read_text(encoding="utf-8").splitlines()[:SENTENCES]
    ref = (multi30k / "test2016.fr").read_text(encoding="utf-8").splitlines()[:SENTENCES]
    (root / "src.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    with_empty = [*src[:3], "", *src[3:]]
    (root / "empty.en").write_text("\n".join(with_empty) + "\n", encoding="utf-8")
    src_vocab = Vocab.build(Counter(w for s in src for w in s.split()), 50)
    tgt_vocab = Vocab.build(Counter(w for s in ref for w in s.split()), 40)
    paths = {"src": root / "src.en", "empty": root / "empty.en"}
    for name, seed, tv in (("m0", 0, tgt_vocab), ("m1", 1, tgt_vocab),
                           ("other", 2, Vocab.build(Counter({"x": 1}), 10))):
        paths[name] = write_tiny_model(root / name, src_vocab, tv, seed, max_len=30)
    paths["att"] = write_tiny_model(root / "att", src_vocab, tgt_vocab, 3, max_len=30,
                                    attention="general")
    _, weights = model_dir.read_state(paths["att"])
    weights["generator.bias"][UNK_ID] = 1.5  # <unk> often among the best words
    model_dir.save_state(weights, paths["att"])
    return paths


def translate(setup: dict[str, Path], out: Path, *args: str | Path) -> list[str]:
    result = run_cli("rescore-translate", "--model", setup["m0"], "--model", setup["m1"],
                     "--beam", "4", "--max-len-a", "0.5", "--max-len-b", "4", *args)
    assert result.returncode == 0, result.stderr
    return out.read_text(encoding="utf-8").splitlines()


def test_nbest_goes_through_rescore_nbest(setup: dict[str, Path], tmp_path: Path) -> None:
    best = translate(setup, tmp_path / "out", "--input", setup["src"], "--output",
                     tmp_path / "out", "--output-nbest", tmp_path / "out.nbest", "--nbest", "3")
    assert len(best) == SENTENCES
    blocks = list(read_nbest(tmp_path / "out.nbest"))
    assert [b.sent_id for b in blocks] == list(range(SENTENCES))
    assert all(len(b.fields) == 3 for b in blocks)
    assert blocks[0].schema.names == ("LSTM0", "LSTM1")
    assert [b.hypothesis(0) for b in blocks] == best
    # rescoring the list with the first model gives back its LSTM0 scores
    result = run_cli("rescore-nbest", "--nbest", tmp_path / "out.nbest", "--source",
                     setup["src"], "--model", f"CHECK={setup['m0']}",
                     "--output-nbest", tmp_path / "check.nbest")
    assert result.returncode == 0, result.stderr
    for block in read_nbest(tmp_path / "check.nbest"):
        assert block.feature("CHECK")[:, 0].tolist() == pytest.approx(
            block.feature("LSTM0")[:, 0].tolist(), rel=2e-5, abs=2e-4)


def test_batching_changes_nothing(setup: dict[str, Path], tmp_path: Path) -> None:
    outputs = []
    for size in ("1", "7"):
        out = tmp_path / f"b{size}.nbest"
        translate(setup, out, "--input", setup["src"], "--output-nbest", out,
                  "--batch-size", size)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_empty_lines_keep_alignment(setup: dict[str, Path], tmp_path: Path) -> None:
    full = translate(setup, tmp_path / "full", "--input", setup["src"], "--output",
                     tmp_path / "full")
    gaps = translate(setup, tmp_path / "gaps", "--input", setup["empty"], "--output",
                     tmp_path / "gaps", "--output-nbest", tmp_path / "gaps.nbest")
    assert gaps == [*full[:3], "", *full[3:]]
    ids = {b.sent_id for b in read_nbest(tmp_path / "gaps.nbest")}
    assert ids == set(range(SENTENCES + 1)) - {3}


def test_detokenize(setup: dict[str, Path], tmp_path: Path) -> None:
    tok = translate(setup, tmp_path / "tok", "--input", setup["src"], "--output",
                    tmp_path / "tok", "--beam", "1")
    detok = translate(setup, tmp_path / "detok", "--input", setup["src"], "--output",
                      tmp_path / "detok", "--beam", "1", "--detokenize")
    md = MosesDetokenizer(lang="fr")
    assert detok == [md.detokenize(line.split()) for line in tok]


def test_unknown_words_replaced_by_the_attended_source_word(setup: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """--unk replace: the search is --unk keep's; each <unk> becomes a word of its own
    source line; an ensemble mixing models with and without attention aligns too."""
    src = setup["src"].read_text(encoding="utf-8").splitlines()
    for models in (["--model", setup["att"]], ["--model", setup["att"], "--model", setup["m0"]]):
        outputs = {}
        for unk in ("keep", "replace"):
            out = tmp_path / unk
            result = run_cli("rescore-translate", *models, "--beam", "3", "--input",
                             setup["src"], "--output", out, "--unk", unk)
            assert result.returncode == 0, result.stderr
            outputs[unk] = out.read_text(encoding="utf-8").splitlines()
        unknown = 0
        for line, kept, replaced in zip(src, outputs["keep"], outputs["replace"], strict=True):
            assert len(kept.split()) == len(replaced.split())
            for k, r in zip(kept.split(), replaced.split(), strict=True):
                if k == "<unk>":
                    unknown += 1
                    assert r in line.split()
                else:
                    assert r == k
        assert unknown > 0  # the tiny target vocabulary leaves many
    for option in (["--unk", "replace"], ["--plot-attention", tmp_path / "plots"]):
        result = run_cli("rescore-translate", "--model", setup["m0"], "--input", setup["src"],
                         "--output", tmp_path / "no", *option)
        assert result.returncode == 2 and "needs a model with attention" in result.stderr
        assert not (tmp_path / "no").exists() and not (tmp_path / "plots").exists()


def test_attention_plots(setup: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    result = run_cli("rescore-translate", "--model", setup["att"], "--model", setup["m0"],
                     "--input", setup["empty"], "--output", tmp_path / "out", "--beam", "2",
                     "--plot-attention", tmp_path / "plots")
    assert result.returncode == 0, result.stderr
    # one picture per non-empty line (line 4 is empty), named by its 1-based line number
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert names == sorted(f"{i}.png" for i in range(1, SENTENCES + 2) if i != 4)
    with Image.open(tmp_path / "plots" / "1.png") as image:
        assert image.size[0] > 200 and image.size[1] > 150


def test_one_search_for_a_grid_of_length_penalties(setup: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """--length-penalty-grid: each penalty's output equals a search run with it, beside the
    main outputs (ranked by --length-penalty), from one search."""
    model = setup["m0"]  # alone, its 1-best is empty at penalties up to 1, long at 3

    def run(*args: str | Path) -> None:
        result = run_cli("rescore-translate", "--model", model, "--input", setup["empty"],
                         "--beam", "5", "--max-len-a", "0.5", "--max-len-b", "12", *args)
        assert result.returncode == 0, result.stderr

    grid = ["0", "0.5", "1", "3"]
    run("--output", tmp_path / "main", "--output-nbest", tmp_path / "main.nbest", "--nbest",
        "2", "--length-penalty", "0.5", "--length-penalty-grid", ",".join(grid),
        "--output-grid", tmp_path / "lp{alpha}.txt")
    outputs = {}
    for alpha in grid:
        run("--output", tmp_path / f"alone{alpha}", "--length-penalty", alpha)
        outputs[alpha] = (tmp_path / f"lp{alpha}.txt").read_text(encoding="utf-8").splitlines()
        assert outputs[alpha] == (tmp_path / f"alone{alpha}").read_text(
            encoding="utf-8").splitlines()
        assert len(outputs[alpha]) == SENTENCES + 1
    assert len(set(map(tuple, outputs.values()))) > 1  # the penalties do choose differently
    run("--output-nbest", tmp_path / "alone.nbest", "--nbest", "2", "--length-penalty", "0.5")
    assert (tmp_path / "main.nbest").read_bytes() == (tmp_path / "alone.nbest").read_bytes()
    assert (tmp_path / "main").read_text(encoding="utf-8").splitlines() == outputs["0.5"]


def test_one_search_for_penalties_and_word_rewards(setup: dict[str, Path],
                                                   tmp_path: Path) -> None:
    """--word-reward-grid with --length-penalty-grid: one output per pair, each equal to a
    search run with that penalty and reward."""
    model = setup["m0"]

    def run(*args: str | Path) -> None:
        result = run_cli("rescore-translate", "--model", model, "--input", setup["empty"],
                         "--beam", "5", "--max-len-a", "0.5", "--max-len-b", "12", *args)
        assert result.returncode == 0, result.stderr

    alphas, rewards = ["0", "1"], ["0", "3", "10"]
    run("--output", tmp_path / "main", "--length-penalty-grid", ",".join(alphas),
        "--word-reward-grid", ",".join(rewards), "--output-grid",
        tmp_path / "lp{alpha}.wr{reward}.txt")
    outputs = {}
    for alpha in alphas:
        for reward in rewards:
            run("--output", tmp_path / "alone", "--length-penalty", alpha, "--word-reward",
                reward)
            got = (tmp_path / f"lp{alpha}.wr{reward}.txt").read_text(encoding="utf-8")
            assert got == (tmp_path / "alone").read_text(encoding="utf-8"), (alpha, reward)
            outputs[alpha, reward] = got
    assert len(set(outputs.values())) > 1  # the rewards do choose differently
    # a reward grid alone: the pairs of --length-penalty with each reward
    run("--length-penalty", "1", "--word-reward-grid", "3", "--output-grid",
        tmp_path / "only.wr{reward}.txt")
    assert (tmp_path / "only.wr3.txt").read_text(encoding="utf-8") == outputs["1", "3"]


@pytest.mark.parametrize(("extra", "message"), [
    (["--max-input-len", "5"], "src.en:1: 10 tokens: longer than the models' limit of 5"),
    (["--model", "OTHER"], "an ensemble needs equal vocabularies"),
    (["--beam", "2", "--nbest", "3"], "1 <= nbest <= beam"),
    (["--length-penalty-grid", "0,1"], "--output-grid goes with --length-penalty-grid or"),
    (["--output-grid", "x{alpha}"], "--output-grid goes with --length-penalty-grid or"),
    (["--length-penalty-grid", "0,1", "--output-grid", "x.txt"], "put {alpha} in it"),
    (["--word-reward-grid", "0,1", "--output-grid", "x{alpha}"], "put {reward} in it"),
    (["--word-reward-grid", "0,nan", "--output-grid", "x{reward}"], "'0,nan'"),
    (["--length-penalty-grid", "0,-1", "--output-grid", "x{alpha}"],
     "give non-negative length penalties"),
    (["--length-penalty-grid", "1", "--output-grid", "x{alpha}", "--length-norm"],
     "not with --length-norm"),
])
def test_bad_input(setup: dict[str, Path], tmp_path: Path, extra: list[str],
                   message: str) -> None:
    extra = [str(setup["other"]) if a == "OTHER" else a for a in extra]
    out = tmp_path / "out"
    result = run_cli("rescore-translate", "--model", setup["m0"], "--input", setup["src"],
                     "--output", out, *extra)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.skipif(IN_PROCESS != "1", reason="sets what the CPU supports in this process")
def test_precision(setup: dict[str, Path], tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """--precision bf16 (a CPU with native bf16): the same search under bf16 autocast, its
    n-best scores within a few percent of fp32's and not all equal to them; refused with one
    line where the CPU has no native bf16, and on an unknown value."""
    monkeypatch.setattr(scoring, "cpu_has_bf16", lambda: True)
    scores = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.nbest"
        translate(setup, out, "--input", setup["src"], "--output-nbest", out, "--nbest", "1",
                  "--precision", precision)
        scores[precision] = [b.feature("LSTM0")[0, 0] for b in read_nbest(out)]
    assert len(scores["bf16"]) == SENTENCES and scores["bf16"] != scores["fp32"]
    assert scores["bf16"] == pytest.approx(scores["fp32"], rel=0.05)
    monkeypatch.setattr(scoring, "cpu_has_bf16", lambda: False)
    for precision, message in (("bf16", "this CPU has no native bf16"),
                               ("fp16", "argument --precision: invalid choice")):
        out = tmp_path / f"refused-{precision}"
        result = run_cli("rescore-translate", "--model", setup["m0"], "--input", setup["src"],
                         "--device", "cpu", "--precision", precision, "--output", out)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not out.exists()
