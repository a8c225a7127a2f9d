"""Run a recipe's ``run.sh`` in a scratch copy, for tests of the shell side of a recipe.

The copy holds ``run.sh`` and ``path.sh`` (so the scripts resolve paths inside the copy) and
links ``utils/``, ``local/`` and ``conf/``; its ``data/`` and ``exp/`` are its own.

    work = copy_recipe("egs/numbers/ASR", tmp_path)
    out = run_recipe(work, "--stage", "0", "--stop-stage", "1")            # rc 0 expected
    err = run_recipe(work, "--stage", "9", expect_rc=1)                    # an error expected
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Union

Pathlike = Union[str, Path]

#: The repository root (recipes live in ``egs/`` below it).
ROOT = Path(__file__).resolve().parents[2]


def copy_recipe(recipe_dir: Pathlike, work_dir: Pathlike) -> Path:
    """A scratch copy of ``recipe_dir`` in ``work_dir`` (created if missing).

    Args:
        recipe_dir: The recipe, e.g. ``ROOT / "egs/numbers/ASR"`` (relative: to ``ROOT``).
        work_dir: Where the copy goes.

    Returns:
        Path: ``work_dir``.
    """
    recipe_dir, work = ROOT / recipe_dir, Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    for name in ("run.sh", "path.sh"):
        shutil.copy(recipe_dir / name, work / name)
    for name in ("utils", "local"):
        (work / name).symlink_to(ROOT / name)
    (work / "conf").symlink_to(recipe_dir / "conf")
    return work


def run_recipe(
    work_dir: Pathlike, *args: str, expect_rc: int = 0, python: str = sys.executable
) -> str:
    """Runs ``./run.sh ARGS`` in ``work_dir`` with ``PYTHON=python``.

    Returns:
        str: stdout and stderr together.

    Raises:
        AssertionError: when the exit status is not ``expect_rc``, with the ends of both
            outputs.
    """
    env = dict(os.environ, PYTHON=python)
    proc = subprocess.run(
        ["./run.sh", *args], cwd=work_dir, env=env, capture_output=True, text=True, timeout=900
    )
    if proc.returncode != expect_rc:
        raise AssertionError(
            f"run.sh {' '.join(args)}: exit {proc.returncode}, expected {expect_rc}:\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc.stdout + proc.stderr
