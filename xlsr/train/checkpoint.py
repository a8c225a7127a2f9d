"""Checkpoints: atomic saves, finding the latest, keep-last-N, averaging.

Files in ``exp_dir``: ``checkpoint-<update>.pt`` (every ``save_every_n`` updates) and
``epoch-<n>.pt`` (end of epoch n), each with the full training state; ``averaged.pt`` for
the running average of the model (icefall's ``--use-averaged-model``).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from xlsr.utils.io import atomic_torch_save

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]


#: ``save_atomic(obj, path)``: torch.save to a temporary file beside ``path``, renamed over it.
save_atomic = atomic_torch_save


def _load(path: Path) -> Dict[str, Any]:
    # Our checkpoints hold RNG states (numpy arrays, tuples): torch >= 2.6 refuses them with
    # its default weights_only=True. They are files this trainer wrote.
    if "weights_only" in torch.load.__code__.co_varnames:
        return torch.load(path, map_location="cpu", weights_only=False)
    return torch.load(path, map_location="cpu")


def load_checkpoint(path: Pathlike) -> Dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        return _load(path)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"{path}: cannot read checkpoint (truncated?): {e}") from e


def _number(path: Path, prefix: str) -> Optional[int]:
    m = re.fullmatch(rf"{prefix}-(\d+)\.pt", path.name)
    return int(m.group(1)) if m else None


def list_checkpoints(exp_dir: Pathlike, prefix: str = "checkpoint") -> List[Path]:
    """``<prefix>-<n>.pt`` files in ``exp_dir`` sorted by n."""
    found = [
        (n, p)
        for p in Path(exp_dir).glob(f"{prefix}-*.pt")
        if (n := _number(p, prefix)) is not None
    ]
    return [p for _, p in sorted(found)]


def newest_readable(
    exp_dir: Pathlike,
) -> Tuple[Optional[Path], Optional[Dict[str, Any]], List[Path]]:
    """The checkpoint-*.pt / epoch-*.pt with the most updates, read.

    An unreadable (e.g. truncated) file is named in a warning and returned in the third
    element, never passed over silently.

    Returns:
        (path, contents, unreadable): (None, None, unreadable) when no file is readable.
    """
    best, state, broken = None, None, []
    for p in list_checkpoints(exp_dir, "checkpoint") + list_checkpoints(exp_dir, "epoch"):
        try:
            loaded = _load(p)
            step = int(loaded["trainer"]["update"])
        except Exception as e:  # noqa: BLE001 - a broken file must not hide the others
            logger.warning("%s: unreadable, not used (%s)", p, " ".join(str(e).split())[:200])
            broken.append(p)
            continue
        if state is None or step > int(state["trainer"]["update"]):
            best, state = p, loaded
    return best, state, broken


def latest_checkpoint(exp_dir: Pathlike) -> Optional[Path]:
    """The readable checkpoint with the most updates among checkpoint-*.pt and epoch-*.pt."""
    return newest_readable(exp_dir)[0]


def remove_old(exp_dir: Pathlike, keep_last: int, prefix: str = "checkpoint") -> None:
    """Keeps the ``keep_last`` newest ``<prefix>-*.pt`` (0 keeps all)."""
    if keep_last <= 0:
        return
    for p in list_checkpoints(exp_dir, prefix)[:-keep_last]:
        p.unlink()
        logger.info("removed old checkpoint %s", p)


def average_state_dicts(states: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, torch.Tensor]:
    """Element-wise mean of model state dicts (integer buffers are taken from the last)."""
    if not states:
        raise ValueError("no checkpoints to average")
    out = {}
    for key, value in states[-1].items():
        if value.is_floating_point():
            acc = torch.zeros_like(value, dtype=torch.float64)
            for s in states:
                acc += s[key].to(torch.float64)
            out[key] = (acc / len(states)).to(value.dtype)
        else:
            out[key] = value
    return out


def average_checkpoints(paths: Sequence[Pathlike]) -> Dict[str, torch.Tensor]:
    """Mean of the ``model`` weights of checkpoint files (icefall ``--avg``)."""
    logger.info("averaging %d checkpoints: %s", len(paths), [str(p) for p in paths])
    return average_state_dicts([load_checkpoint(p)["model"] for p in paths])


def average_between(
    start: Optional[Dict[str, Any]], end: Dict[str, Any]
) -> Dict[str, torch.Tensor]:
    """The mean of the weights sampled between two trainer checkpoints (icefall
    ``--use-averaged-model``): each checkpoint holds the running mean of every sample so far
    (``averaged``, over ``num_averaged`` samples), so the mean of the samples taken after
    ``start`` and up to ``end`` is ``(end_avg * n_end - start_avg * n_start) / (n_end - n_start)``.

    Args:
        start: the earlier checkpoint, or None to average from the beginning of training.
        end: the later checkpoint.
    """
    n_end = int(end.get("num_averaged") or 0)
    n_start = int(start.get("num_averaged") or 0) if start is not None else 0
    if end.get("averaged") is None or n_end <= n_start:
        raise ValueError(
            f"no averaged weights between the checkpoints ({n_start} and {n_end} samples): "
            "train with average_period > 0, and pick an earlier start (smaller --avg)"
        )
    out = {}
    for key, value in end["averaged"].items():
        if not value.is_floating_point():
            out[key] = value
            continue
        acc = value.to(torch.float64) * n_end
        if n_start:
            acc -= start["averaged"][key].to(torch.float64) * n_start
        out[key] = (acc / (n_end - n_start)).to(value.dtype)
    return out
