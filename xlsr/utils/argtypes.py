"""argparse ``type`` functions for entry-point options: a bad value is refused by argparse
with a message naming the option (``argument --lm-scales: '0.1,,0.3' has an empty entry``),
before any work."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Callable, List


def _number(kind: type, low: float, strict: bool) -> Callable[[str], Any]:
    """An argparse ``type``: a finite ``kind`` above ``low`` (or at least ``low``)."""
    bound = f"> {low}" if strict else f">= {low}"
    noun = "an integer" if kind is int else "a finite number"

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not math.isfinite(value) or value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(f"must be {noun} {bound}, got {text!r}")
        return value

    convert.__name__ = f"{kind.__name__} {bound}"
    return convert


positive_int = _number(int, 1, strict=False)
nonneg_int = _number(int, 0, strict=False)
positive_float = _number(float, 0.0, strict=True)


def scale_list(text: str) -> List[str]:
    """An argparse ``type`` for LM scales: comma-separated finite numbers >= 0, no empty or
    repeated entry. Returns their spellings (result names use them); ``float`` each to use."""
    parts = [s.strip() for s in text.split(",")]
    if not text.strip() or not all(parts):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty entry; e.g. 0.1,0.3,0.5")
    for part in parts:
        where = "" if part == text.strip() else f" in {text!r}"
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}{where} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(f"{part!r}{where}: need a finite number >= 0")
    if len(set(map(float, parts))) < len(parts):
        raise argparse.ArgumentTypeError(f"{text!r} repeats a value")
    return parts


def existing_file(text: str) -> str:
    """An argparse ``type``: a path to an existing file."""
    if not Path(text).is_file():
        hint = " (a manifest the data stages did not make?)" if text.endswith(".jsonl.gz") else ""
        raise argparse.ArgumentTypeError(f"{text}: no such file{hint}")
    return text


def existing_dir(text: str) -> str:
    """An argparse ``type``: a path to an existing directory."""
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: no such directory")
    return text
