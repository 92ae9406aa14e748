"""The architecture page's claims, checked on the code (docs/architecture.md): imports only
point down (the package's import graph has no cycle, deferred imports inside functions
included), the library never imports the command lines or the pipelines, and nothing but
``rescore-train`` and the pipeline stages imports the trainer."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rescore"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The rescore modules ``path`` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in ("rescore",
                                                                              "pipelines")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] in ("rescore", "pipelines"):
            # "from rescore import stages" names a module; "from rescore.x import f" does not
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")
                          ).with_suffix(".py").exists()}
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_the_import_graph_has_no_cycle() -> None:
    try:
        tuple(TopologicalSorter(graph()).static_order())
    except CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None


def test_the_cycle_check_can_fail() -> None:
    edges = graph()
    edges["rescore.nbest"] = edges["rescore.nbest"] | {"rescore.rerank"}  # rerank reads nbest
    try:
        tuple(TopologicalSorter(edges).static_order())
    except CycleError:
        return
    raise AssertionError("a cycle went unnoticed")


def test_the_library_never_imports_commands_or_pipelines() -> None:
    for path in PACKAGE.rglob("*.py"):
        imported = imports_of(path)
        assert not any(m.startswith("pipelines") for m in imported), path
        if "cli" not in path.relative_to(PACKAGE).parts:
            assert not any(m.startswith("rescore.cli") for m in imported), path


def test_only_rescore_train_imports_the_trainer() -> None:
    users = {name for name, imported in graph().items() if "rescore.train" in imported}
    assert users <= {"rescore.cli.train"}, users


ENGINE = ROOT / "pipelines" / "engine"


def test_the_experiment_engine_lives_with_the_pipelines() -> None:
    """The installed package is the toolkit alone: the staged runner, the stage factories and
    the repository's layout (where ../shared is) are in pipelines/engine, beside their only
    users, and nothing in rescore/ knows where the checkout's folders are."""
    for name in ("pipeline", "stages", "paths"):
        assert not (PACKAGE / f"{name}.py").exists(), name
        assert (ENGINE / f"{name}.py").exists(), name
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for layout in ('"shared"', "'shared'", "shared/data", "pipelines/", "REPO_ROOT"):
            assert layout not in text, f"{path} knows the repository's layout ({layout})"


def test_every_pipeline_takes_the_shared_options_from_one_module() -> None:
    for path in (ROOT / "pipelines").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "def main" not in text:
            continue
        assert "options.add_common(parser" in text, path
        assert 'add_argument("--workdir"' not in text and 'add_argument("--threads"' not in \
            text and 'add_argument("--dry-run"' not in text, path


# the modules that drive a model: scoring, the prefix trie, channel scoring, ensembles, beam
# search, the features and the translator. They see the decoder-state protocol only.
DRIVERS = ("rescore.scoring", "rescore.beam", "rescore.translate", "rescore.nbest_run",
           "rescore.features.model_feature", "rescore.features.lstm",
           "rescore.features.channel", "rescore.figures")
CONCRETE = {"rescore.model", "rescore.models", "rescore.models.lstm",
            "rescore.models.transformer", "rescore.models.attention"}
CLASSES = {"Seq2Seq", "Transformer", "ResidualLSTM", "GlobalAttention", "MultiHeadAttention"}


def names_in(path: Path) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, ast.Name)} | {
        a.name for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(n, ast.ImportFrom) for a in n.names}


def test_scoring_and_search_import_no_concrete_model() -> None:
    """docs/architecture.md: scoring and search drive :class:`rescore.models.DecoderModel`
    (``rescore.models.protocol``) and never learn which architecture it is; models are built
    by ``rescore.model_dir`` (:func:`rescore.models.build_model`) only."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name in DRIVERS:
        path = modules[name]
        assert not imports_of(path) & CONCRETE, (name, imports_of(path) & CONCRETE)
        assert not names_in(path) & CLASSES, (name, names_in(path) & CLASSES)
    users = {name for name, imported in graph().items() if imported & {"rescore.models"}}
    assert users <= {"rescore.model_dir", "rescore.train"}, users


def test_the_protocol_names_what_the_drivers_call() -> None:
    from rescore.models import ARCHITECTURES, DecoderModel

    wanted = {"encode", "step", "select_state", "cat_states", "attention_weights", "attends",
              "steps_encoder", "forward", "token_log_probs", "loss", "sentence_vector"}
    assert wanted <= set(dir(DecoderModel))
    for cls in ARCHITECTURES.values():
        assert all(hasattr(cls, m) for m in wanted), cls.__name__


def test_the_concrete_import_check_can_fail() -> None:
    path = PACKAGE / "beam.py"
    text = path.read_text(encoding="utf-8") + "\nfrom rescore.models.lstm import Seq2Seq\n"
    tree_names = {a.name for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom)
                  for a in n.names}
    assert "Seq2Seq" in tree_names & CLASSES
