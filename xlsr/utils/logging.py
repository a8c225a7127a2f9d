"""Logging set-up for entry points (the library itself only calls ``logging.getLogger``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def setup_logging(log_file: Optional[Path] = None, level: int = logging.INFO) -> None:
    """Logs to stderr and, if given, to ``log_file`` (its directory is created)."""
    handlers: list = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file))
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)
