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
