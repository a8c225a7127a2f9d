"""Atomic file writes: a reader sees the old file or the new one, never half of one.

    atomic_write_text(exp_dir / "score-test.json", text)
    atomic_torch_save(state, exp_dir / "checkpoint-100.pt")
    with atomic_output(path) as tmp:   # any other writer: write tmp, it becomes path
        sf.write(tmp, audio, 16000, format="FLAC")

The data goes to a uniquely named temporary file beside the target (``.<name>.<random>.tmp``,
so concurrent writers do not share it and globs such as ``checkpoint-*.pt`` do not see it),
is flushed to disk, and is renamed over the target; on any error the temporary file is
removed and the target is left as it was. Every atomic write of the toolkit goes through
``atomic_output``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

Pathlike = Union[str, Path]

#: Permissions of a written file (mkstemp makes 0600; results and checkpoints are shared).
FILE_MODE = 0o644


@contextlib.contextmanager
def atomic_output(path: Pathlike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; it replaces ``path`` when the block ends.

    Creates the parent directory. When the block raises, the temporary file is removed,
    ``path`` is untouched and the exception propagates.

    Args:
        path: The file to (re)write.

    Yields:
        Path: the temporary file (empty, already created) to write the data to.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, FILE_MODE)
        yield tmp
        with open(tmp, "rb+") as f:  # the data on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def atomic_write_text(path: Pathlike, text: str) -> None:
    """Writes ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def atomic_write_bytes(path: Pathlike, data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_torch_save(obj: Any, path: Pathlike) -> None:
    """``torch.save(obj, path)``, atomically (a checkpoint is never seen half-written)."""
    import torch  # here, so that text writers do not need torch

    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
