"""``--task NAME``, or the task recorded in ``--exp-dir``'s config.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from xlsr.tasks import Task, get_task, task_names, task_of_run


def resolve_task(argv: Optional[List[str]], command: str) -> Task:
    """The task ``--task`` names, else the one EXP_DIR/config.yaml records; SystemExit with
    the known tasks when neither says."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    pre.add_argument("--exp-dir")
    known, _ = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    name = known.task
    config = Path(known.exp_dir) / "config.yaml" if known.exp_dir else None
    if name is None and config is not None and config.is_file():
        from xlsr.utils.config import load_yaml

        name = task_of_run(load_yaml(config))
    if name is None:
        raise SystemExit(
            f"{command}: --task is required (one of {task_names()}), unless --exp-dir holds a "
            "config.yaml that records it"
        )
    try:
        return get_task(name)
    except ValueError as e:
        raise SystemExit(f"{command}: --task: {e}") from e
