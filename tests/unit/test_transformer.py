"""The Transformer behind the decoder-state protocol: its incremental step equals a full
teacher-forced pass; the prefix trie (direct and right-to-left), channel scoring and forced
decoding equal plain passes to 1e-4; ensembles mix it with an LSTM in beam search; a model
directory of it loads, is checked against its header and scores the same; and the
protocol is what scoring and search use."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from rescore import model_dir
from rescore.beam import Ensemble, SearchConfig, beam_search, forced_score
from rescore.config import ModelConfig, TrainConfig
from rescore.corpus import make_batch
from rescore.errors import RescoreError
from rescore.models import DecoderModel, build_model
from rescore.models.lstm import Seq2Seq
from rescore.models.transformer import Transformer
from rescore.scoring import score_channel, score_pairs, score_prefix_shared
from rescore.train import lr_at
from rescore.vocab import SPECIALS, Vocab

WORDS = [f"w{i}" for i in range(16)]
VOCAB = Vocab([*SPECIALS, *WORDS])
BASE = ModelConfig(src_vocab_size=len(VOCAB), tgt_vocab_size=len(VOCAB), embed_dim=16,
                   hidden_dim=16, num_layers=2, arch="transformer", heads=4, ff_dim=32,
                   reverse_source=False)
VARIANTS = {"sinusoidal": {}, "learned": {"positions": "learned"},
            "tied": {"tie_embeddings": True}, "shared": {"share_embeddings": True,
                                                         "tie_embeddings": True},
            "reversed source": {"reverse_source": True}}


def tiny(seed: int = 0, **options: object) -> Transformer:
    torch.manual_seed(seed)
    model = build_model(dataclasses.replace(BASE, **options))  # type: ignore[arg-type]
    assert isinstance(model, Transformer)
    return model.eval()


def random_pairs(n: int, seed: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    src = [rng.integers(4, len(VOCAB), rng.integers(1, 7)).astype(np.int32) for _ in range(n)]
    tgt = [rng.integers(4, len(VOCAB), rng.integers(0, 6)).astype(np.int32) for _ in range(n)]
    return src, tgt


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_incremental_step_equals_a_full_pass(variant: str) -> None:
    model = tiny(**VARIANTS[variant])
    src, tgt = random_pairs(6)
    batch = make_batch(src, tgt)
    with torch.inference_mode():
        full = model.token_log_probs(batch)
        state = model.encode(batch.src, batch.src_lengths)
        steps = []
        for t in range(batch.tgt_in.shape[1]):
            logp, state = model.step(batch.tgt_in[:, t], state)
            steps.append(logp.gather(1, batch.tgt_out[:, t:t + 1]).squeeze(1))
        incremental = torch.stack(steps, 1).masked_fill(batch.tgt_out == 0, 0.0)
    torch.testing.assert_close(incremental, full, atol=1e-5, rtol=0)
    assert state.length == batch.tgt_in.shape[1]  # the cache grew by one position a step


def test_the_full_pass_is_causal() -> None:
    """A later target word never changes an earlier position's score."""
    model = tiny()
    src = [np.array([4, 5, 6], np.int32)] * 2
    batch = make_batch(src, [np.array([7, 8, 9], np.int32), np.array([7, 8, 12], np.int32)])
    with torch.inference_mode():
        logp = model.token_log_probs(batch)
    torch.testing.assert_close(logp[0, :2], logp[1, :2], atol=1e-6, rtol=0)  # w7 w8 alike
    assert not torch.allclose(logp[0, 3], logp[1, 3])


@pytest.mark.parametrize("right_to_left", [False, True])
def test_the_prefix_trie_equals_plain_forced_passes(right_to_left: bool) -> None:
    model = tiny(reverse_target=right_to_left)
    src, _ = random_pairs(3)
    rng = np.random.default_rng(5)
    stem = rng.integers(4, len(VOCAB), 3)
    hyps = [[np.concatenate([stem[:rng.integers(0, 4)], rng.integers(4, len(VOCAB), k)])
             for k in range(5)] for _ in src]
    trie = score_prefix_shared(model, src, hyps)
    words = lambda ids: [VOCAB.words[i] for i in ids]  # noqa: E731
    for k, source in enumerate(src):
        # score_pairs reverses the target itself for a right-to-left model
        ordered = [h[::-1] if right_to_left else h for h in hyps[k]]
        plain = score_pairs(model, VOCAB, VOCAB, [words(source)] * len(ordered),
                            [words(h) for h in ordered], reverse_target=right_to_left)
        np.testing.assert_allclose(trie[k], plain.totals, atol=1e-4, rtol=0)


def test_channel_scoring_equals_plain_passes() -> None:
    """The Transformer's encoder reads whole inputs: channel scoring batches them (no input
    trie) and equals scoring each pair alone."""
    model = tiny()
    assert not model.steps_encoder
    inputs = [[np.array([4, 5, 6]), np.array([4, 5]), np.array([], np.int64)],
              [np.array([9, 10])]]
    outputs = [np.array([7, 8]), np.array([11])]
    got = score_channel(model, inputs, outputs)
    for k, hs in enumerate(inputs):
        for i, h in enumerate(hs):
            src = h.astype(np.int32) if len(h) else np.array([3], np.int32)
            batch = make_batch([src], [outputs[k].astype(np.int32)])
            with torch.inference_mode():
                want = float(model.token_log_probs(batch).sum())
            assert abs(got[k][i] - want) < 1e-4


def test_a_mixed_ensemble_searches_and_scores_what_it_finds() -> None:
    """An LSTM and a Transformer with one vocabulary decode as one: every output's score is
    its forced-decoding score under the same ensemble, member scores included."""
    torch.manual_seed(3)
    lstm = Seq2Seq(dataclasses.replace(BASE, arch="lstm", num_layers=1,
                                       attention="dot")).eval()
    ensemble = Ensemble([tiny(), lstm])
    src, _ = random_pairs(4)
    results = beam_search(ensemble, src, SearchConfig(beam=4, nbest=2, max_len_b=5),
                          align=True)
    for source, hyps in zip(src, results, strict=True):
        assert len(hyps) == 2
        for hyp in hyps:
            total, members = forced_score(ensemble, source, hyp.tokens)
            assert abs(total - hyp.score) < 1e-4
            np.testing.assert_allclose(members, hyp.member_scores, atol=1e-4)
            assert hyp.alignment is not None and len(hyp.alignment) == len(hyp.tokens)
            assert all(0 <= a < len(source) for a in hyp.alignment)


def test_the_protocol_is_what_both_architectures_implement() -> None:
    torch.manual_seed(0)
    for model in (tiny(), Seq2Seq(dataclasses.replace(BASE, arch="lstm"))):
        assert isinstance(model, DecoderModel), type(model).__name__


def write_dir(directory: Path, model: torch.nn.Module) -> Path:
    directory.mkdir()
    model_dir.save_config(directory, model.config, TrainConfig(), {})  # type: ignore[arg-type]
    VOCAB.save(directory / model_dir.SRC_VOCAB)
    VOCAB.save(directory / model_dir.TGT_VOCAB)
    model_dir.save_weights(model, directory)
    return directory


def test_a_model_directory_round_trips_and_is_checked(tmp_path: Path) -> None:
    model = tiny(tie_embeddings=True)
    directory = write_dir(tmp_path / "t", model)
    loaded = model_dir.load(directory)
    assert isinstance(loaded.model, Transformer)
    src, tgt = random_pairs(5)
    batch = make_batch(src, tgt)
    with torch.inference_mode():
        torch.testing.assert_close(loaded.model.token_log_probs(batch),
                                   model.token_log_probs(batch), atol=0, rtol=0)
    info = model_dir.describe(directory)
    assert info["shape"].startswith("2 x 16 Transformer")
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    # another width in config.json is refused from the header, before building anything
    model_dir.update_config(directory, model=dataclasses.asdict(
        dataclasses.replace(model.config, ff_dim=64)))
    with pytest.raises(RescoreError, match="has shape"):
        model_dir.load(directory)


def test_the_inverse_square_root_schedule() -> None:
    cfg = TrainConfig(lr=0.001, warmup_steps=100, lr_schedule="inverse-sqrt")
    assert lr_at(0, 10, cfg) == pytest.approx(0.001 / 100)
    assert lr_at(99, 10, cfg) == pytest.approx(0.001)
    assert lr_at(399, 10, cfg) == pytest.approx(0.0005)


@pytest.mark.parametrize(("options", "words"), [
    ({"embed_dim": 8}, "one width"),
    ({"heads": 3}, "not a multiple of --heads 3"),
    ({"bidirectional": True}, "LSTM options"),
    ({"share_embeddings": True, "tgt_vocab_size": 30}, "one vocabulary on both sides"),
    ({"positions": "rotary"}, "unknown position encoding"),
])
def test_impossible_transformer_options_are_one_error(options: dict[str, object],
                                                      words: str) -> None:
    with pytest.raises(RescoreError, match=words):
        dataclasses.replace(BASE, **options)  # type: ignore[arg-type]


def test_a_sequence_longer_than_the_position_table_is_one_error() -> None:
    model = tiny(positions="learned", max_positions=4)
    batch = make_batch([np.arange(4, 10, dtype=np.int32)], [np.array([4], np.int32)])
    with pytest.raises(RescoreError, match="longer than this Transformer's 4"):
        model.token_log_probs(batch)
