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


VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def test_K2_readme_two_commands_make_a_venv_and_ci_runs_them() -> None:
    """K2: both commands make their own virtual environment (stock Debian's Python refuses
    a bare pip install), and CI runs the test command exactly as the README writes it."""
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    demo = VENV + "pip install -e . && xiaodian demo"
    tests = VENV + "pip install -e '.[dev]' && pytest"
    assert f"```bash\n{demo}\n```" in README
    assert f"```bash\n{tests}\n```" in README
    assert f'TEST_COMMAND="{tests}"' in ci
    assert ci.count('bash -c "$TEST_COMMAND"') == 2, "run on SQLite and on PostgreSQL"
    assert "XIAODIAN_TEST_DATABASE_URL=postgresql" in ci
