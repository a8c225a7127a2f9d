"""Short content hashes of files: what a result, a checkpoint or a stage marker records of
the inputs that produced it, so a changed input is seen rather than trusted."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

Pathlike = Union[str, Path]


def short_hash(path: Pathlike, length: int = 12) -> str:
    """The first ``length`` hex digits of the SHA-256 of a file's bytes.

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file to fingerprint")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
