"""The option tables of docs/rescore-*.md, generated from the commands' own parsers, so that
every option a command takes is documented with its default and its help text (units and
all) and the pages never drift from ``--help``.

    python scripts/docs_options.py           # rewrite the tables in place
    python scripts/docs_options.py --check   # exit 1 naming every page whose table is stale

A page holds its table between ``<!-- options:begin -->`` and ``<!-- options:end -->``."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
COMMANDS = ("nbest", "tune", "train", "translate", "mbr", "oracle", "report", "model",
            "combine")
BEGIN, END = "<!-- options:begin -->", "<!-- options:end -->"


def parser_of(command: str) -> argparse.ArgumentParser:
    """The parser of ``rescore-<command>``, as its ``main`` builds it."""
    module = importlib.import_module(f"rescore.cli.{command}")
    parser: argparse.ArgumentParser = module.build_parser()
    return parser


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every option of ``parser`` and of its subcommands (``rescore-model convert ...``)."""
    actions = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                actions += [a for a in documented_actions(sub)
                            if not isinstance(a, argparse._HelpAction)]
        elif action.help != argparse.SUPPRESS:
            actions.append(action)
    return actions


def _subcommand_of(parser: argparse.ArgumentParser,
                   action: argparse.Action) -> tuple[str, argparse.ArgumentParser] | None:
    for sub_action in parser._actions:
        if isinstance(sub_action, argparse._SubParsersAction):
            for name, sub in sub_action.choices.items():
                if action in sub._actions:
                    return name, sub
    return None


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
        return ""
    if action.default in (None, argparse.SUPPRESS, []):
        return ""
    if action.nargs == 0 and action.default is False:
        return "off"
    if action.nargs == 0 and action.default is True:
        return "on"
    return f"`{action.default}`"


def _name(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`" + (" ..." if action.nargs in ("+", "*")
                                                      else "")
    formatter = parser._get_formatter()
    return ", ".join(f"`{part}`" for part in
                     formatter._format_action_invocation(action).split(", "))


def table(command: str) -> str:
    """The Markdown table of every option of ``rescore-<command>``."""
    parser = parser_of(command)
    rows = ["| option | default | what it is |", "|---|---|---|"]
    for sub_action in parser._actions:  # subcommands first, each with what it does
        if isinstance(sub_action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in sub_action._choices_actions}
            for name in sub_action.choices:
                rows.append(f"| `{name}` (action) |  | {_cell(helps.get(name) or '')} |")
    for action in documented_actions(parser):
        owner = _subcommand_of(parser, action)
        text = (action.help or "") % {"default": action.default, "prog": parser.prog}
        name = _name(action, owner[1] if owner else parser)
        if owner:
            name = f"`{owner[0]}` {name}"
        rows.append(f"| {name} | {_default(action)} | {_cell(text)} |")
    return "\n".join(rows)


def page(command: str) -> Path:
    return DOCS / f"rescore-{command}.md"


def refreshed(command: str) -> str:
    """The page's text with its options table regenerated."""
    text = page(command).read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page(command)}: no {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table(command)}\n{END}{tail}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a page's table is stale")
    args = parser.parse_args()
    stale = []
    for command in COMMANDS:
        text = refreshed(command)
        if text != page(command).read_text(encoding="utf-8"):
            stale.append(page(command))
            if not args.check:
                page(command).write_text(text, encoding="utf-8")
    if args.check and stale:
        sys.exit("stale option tables (run python scripts/docs_options.py): "
                 + ", ".join(str(p.relative_to(ROOT)) for p in stale))
    for path in stale if not args.check else ():
        print(f"rewrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
