"""The tree passes the project's lint (ruff-check, as Slicer runs it in pre-commit), with the same ruff version that
the pre-commit hook pins."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_tree_passes_ruff_check():
    completed = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
                                str(REPO)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_pre_commit_hook_pins_the_ruff_that_the_tests_run():
    config = (REPO / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    hook_rev = re.search(r"astral-sh/ruff-pre-commit\s+rev:\s*\"?v([0-9.]+)", config).group(1)
    assert hook_rev == version("ruff")
    assert f'"ruff=={hook_rev}"' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
