"""``rescore-nbest`` as one library call: which features a request adds, how the scores are
combined, and the run itself, on one process or sharded over the processes of torchrun."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rescore import model_dir
from rescore.distributed import all_reduce_counts, barrier, dist_info
from rescore.errors import RescoreError
from rescore.features import (
    ChannelFeature,
    FeatureScorer,
    KenLMFeature,
    LSTMFeature,
    MeanFeature,
    PerWordFeature,
    WordCountFeature,
)
from rescore.nbest import check_feature_name
from rescore.rerank import (
    AverageCombiner,
    Combiner,
    MissingPolicy,
    RerankStats,
    merge_shards,
    rerank_file,
)
from rescore.weights import Weights, load_weights

COMBINE_RULES = ("weights", "average")


@dataclass
class NbestRequest:
    """What to add to a list and how to rerank it (see ``rescore-nbest --help``).

    ``models``: ``[NAME=]DIR`` LSTM model directories (src_lang -> tgt_lang, the list's
    direction); ``channel_models``: the same for models of the other direction (tgt_lang ->
    src_lang); ``lms``: KenLM files; ``ensemble``:
    None (no ensemble feature), ``""`` (the mean of this run's LSTM features) or
    comma-separated feature names; ``word_count``: add WordCount0 (tokens per hypothesis);
    ``per_word``: features to add divided by the hypothesis' tokens + 1 (PerWord<name>);
    ``combine``: None, ``weights`` or ``average``."""

    nbest: Path | str
    source: Path | str | None = None
    models: Sequence[str] = ()
    channel_models: Sequence[str] = ()
    lms: Sequence[str] = ()
    word_count: bool = False
    per_word: Sequence[str] = ()
    src_lang: str = "en"
    tgt_lang: str = "fr"
    channel_ensemble: bool = False
    ensemble: str | None = None
    ensemble_name: str = "LSTMEnsemble0"
    combine: str | None = None
    weights: Path | str | None = None
    average_feature: str | None = None
    max_hyp_tokens: int = 500
    output_nbest: Path | str | None = None
    output_1best: Path | str | None = None
    missing: MissingPolicy = "error"
    progress: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))


@dataclass
class NbestResult:
    """What a run did (summed over every process under torchrun); ``main``: this process
    reports it (rank 0)."""

    stats: RerankStats
    summaries: list[str]
    main: bool = True


def model_spec(spec: str, index: int, prefix: str = "LSTM") -> tuple[str, str]:
    """``NAME=DIR`` or ``DIR`` (named ``<prefix><index>``)."""
    name, sep, path = spec.partition("=")
    if sep and name and name.isalnum():
        return name, path
    return f"{prefix}{index}", spec


def check_direction(loaded: model_dir.LoadedModel, want: tuple[str, str], option: str) -> None:
    """A model must map the languages its option says (recorded by rescore-train; model
    directories from before that are not checked)."""
    have = loaded.languages
    if have is None or have == want:
        return
    other = "--channel-model" if option == "--model" else "--model"
    hint = f"; give it as {other}" if have == want[::-1] else ""
    raise RescoreError(f"{loaded.directory}: a model from {have[0]} to {have[1]}, but {option} "
                       f"takes models from {want[0]} to {want[1]} (the list is "
                       f"{want[0] if option == '--model' else want[1]} -> "
                       f"{want[1] if option == '--model' else want[0]}, --src-lang/--tgt-lang)"
                       f"{hint}")


def make_features(request: NbestRequest) -> list[FeatureScorer]:
    """The feature scorers, in the order their columns are appended: LSTM models, channel
    models, KenLM models, the word count, the ensemble means (LSTM, then channel), then the
    per-word (length-normalised) features."""
    langs = (request.src_lang, request.tgt_lang)
    lstms = [LSTMFeature(path, name, request.device, request.max_hyp_tokens)
             for name, path in (model_spec(s, i) for i, s in enumerate(request.models))]
    for f in lstms:
        check_direction(f.loaded, langs, "--model")
    channels = [ChannelFeature(path, name, request.device, request.max_hyp_tokens)
                for name, path in (model_spec(s, i, "Channel")
                                   for i, s in enumerate(request.channel_models))]
    for c in channels:
        check_direction(c.loaded, langs[::-1], "--channel-model")
    if (lstms or channels) and request.source is None:
        option = "--model" if lstms else "--channel-model"
        raise RescoreError(f"{option} needs --source (the source sentences of the list)")
    model_dir.check_compatible([f.loaded for f in lstms])
    model_dir.check_compatible([c.loaded for c in channels])
    features: list[FeatureScorer] = [
        *lstms, *channels,
        *(KenLMFeature(path, name=f"KenLM{i}") for i, path in enumerate(request.lms))]
    if request.word_count:
        features.append(WordCountFeature())
    if request.ensemble is not None:
        names = tuple(n for n in request.ensemble.split(",") if n) or \
            tuple(f.name for f in lstms)
        if not names:
            raise RescoreError("--ensemble: no LSTM models to average (give --model, or "
                               "NAMES of LSTM features the list has)")
        try:
            check_feature_name(request.ensemble_name)
        except ValueError as err:
            raise RescoreError(f"--ensemble-name: {err}") from None
        features.append(MeanFeature(request.ensemble_name, names))
    if request.channel_ensemble:
        if len(channels) < 2:
            raise RescoreError("--channel-ensemble needs at least two --channel-model")
        features.append(MeanFeature("ChannelEnsemble0", tuple(c.name for c in channels)))
    for name in request.per_word:
        try:
            check_feature_name(f"PerWord{name}")
        except ValueError as err:
            raise RescoreError(f"--per-word: {err}") from None
        features.append(PerWordFeature(name))
    return features


def make_combiner(request: NbestRequest,
                  features: Sequence[FeatureScorer]) -> Weights | Combiner | None:
    """Feature weights, the paper's average (with the ensemble's mean when there is one, else
    the only LSTM feature, or ``average_feature``), or None (keep the list's order)."""
    if request.combine == "average":
        if request.average_feature:
            return AverageCombiner(request.average_feature)
        lstms = [f for f in features if isinstance(f, LSTMFeature)]
        means = [f for f in features if isinstance(f, MeanFeature)]
        if not lstms:
            raise RescoreError("--combine average needs an LSTM model (--model) or "
                               "--average-feature")
        if len(lstms) > 1 and not means:
            raise RescoreError("--combine average with several models needs --ensemble")
        return AverageCombiner(means[0].name if means else lstms[0].name)
    if request.weights:
        return load_weights(request.weights)
    if request.combine == "weights":
        raise RescoreError("--combine weights needs --weights")
    return None


def run_nbest(request: NbestRequest) -> NbestResult:
    """Annotate and rerank the list of ``request``; under torchrun each process takes every
    world-th sentence and rank 0 merges the shards in id order."""
    if request.output_nbest is None and request.output_1best is None:
        raise RescoreError("nothing to write: give --output-nbest and/or --output-1best")
    features = make_features(request)
    combiner = make_combiner(request, features)
    info = dist_info()
    stats = rerank_file(
        request.nbest, combiner=combiner, features=features, source=request.source,
        output_nbest=request.output_nbest, output_1best=request.output_1best,
        missing=request.missing, progress=request.progress and info.main,
        shard=(info.rank, info.world))
    if info.world > 1:
        stats.sentences, stats.hypotheses, stats.changed_1best = all_reduce_counts(
            [stats.sentences, stats.hypotheses, stats.changed_1best])
        barrier()
        if info.main:
            merge_shards(request.output_nbest, request.output_1best, info.world)
        barrier()
    summaries = [line for f in features if (line := f.summary()) is not None]
    return NbestResult(stats, summaries, info.main)
