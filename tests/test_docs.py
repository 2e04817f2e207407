"""The README documents every setting and every CLI command (docs for every command)."""

from __future__ import annotations

from pathlib import Path

import typer

from xiaodian.cli import app
from xiaodian.config import Settings, describe

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_setting() -> None:
    missing = [var for var, _, _ in describe(Settings()) if f"`{var}`" not in README]
    assert not missing, f"README configuration table lacks {missing} (xiaodian config --markdown)"


def test_readme_mentions_every_top_level_command() -> None:
    command = typer.main.get_command(app)
    names = list(getattr(command, "commands", {}))
    assert names
    missing = [name for name in names if f"xiaodian {name}" not in README]
    assert not missing, f"README does not document: {missing}"


def test_readme_gives_the_two_commands_ci_runs() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e . && xiaodian demo" in README
    assert "pip install -e '.[dev]' && pytest" in README
    assert "pip install -e '.[dev]' && pytest" in ci
