"""Which cuts a run uses: ``filter_cuts`` (durations, CTC feasibility) and ``validate_cuts``.

    cuts, dropped = filter_cuts(cuts, cfg, encode=tokenizer.encode)   # cheap: manifest only
    good, report = validate_cuts(cuts, tolerance=0.05)                # decodes all the audio

A cut is CTC-feasible when the encoder makes at least ``ctc_min_frames(tokens)`` frames of
it (``cut_frames``, counted with the conv arithmetic of ``xlsr.data.frames``).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from lhotse import CutSet, validate
from lhotse.cut import Cut
from lhotse.utils import compute_num_samples
from torch import Tensor
from tqdm import tqdm

from xlsr.data.audio import describe_error, load_error_reason, mismatch_tolerance
from xlsr.data.config import DataConfig
from xlsr.data.cuts import cut_text
from xlsr.data.frames import DEFAULT_CONV_LAYERS, ConvLayer, conv_frames_fn

logger = logging.getLogger(__name__)


def ctc_min_frames(tokens: Sequence[int]) -> int:
    """Frames CTC needs for ``tokens``: one per token plus a blank between equal neighbours."""
    return len(tokens) + sum(1 for a, b in zip(tokens, tokens[1:]) if a == b)


def filter_cuts(
    cuts: CutSet,
    cfg: DataConfig,
    encode: Optional[Callable[[str], Sequence[int]]] = None,
    frames_fn: Optional[Callable[[Tensor], Tensor]] = None,
    conv_layers: Sequence[ConvLayer] = DEFAULT_CONV_LAYERS,
    train: bool = True,
) -> Tuple[CutSet, Counter]:
    """Drop cuts outside the duration range and, for CTC, cuts with too many tokens.

    A cut is CTC-feasible when the encoder makes at least ``ctc_min_frames(encode(text))``
    frames of it; in training the frames are counted at the fastest speed factor (the
    shortest audio the cut can become). In training, cuts shorter than ``min_sample_size``
    samples are dropped, and with ``max_sample_size`` the upper duration limit applies to
    the crop a cut will become (``xlsr.data.crop``). Logs a summary of what was dropped and
    why.

    A lazy ``cuts`` (``load_manifest_lazy``: a corpus too large for memory) gives a lazy
    result: one pass counts what is dropped, and the returned CutSet applies the same test
    as it is read, so no cut is held in memory; an eager one gives an eager result.

    Args:
        cuts: Cuts to filter (read once here).
        cfg: ``min_cut_duration``, ``max_cut_duration``, ``sample_rate``, ``speed_perturb``,
            ``min_sample_size``, ``max_sample_size``.
        encode: text -> token ids; None skips the CTC check.
        frames_fn: samples (N,) int64 -> encoder frames (N,); default from ``conv_layers``.
        conv_layers: (channels, kernel, stride) of the feature extractor.
        train: Whether the training options (``speed_perturb``, ``min_sample_size``,
            ``max_sample_size``) apply to these cuts.

    Returns:
        (CutSet, Counter): the kept cuts, and reason -> number dropped (``too_short``,
        ``too_long``, ``below_min_sample_size``, ``target_error``, ``ctc_infeasible``).
    """
    test = CutFilter(cfg, encode, frames_fn or conv_frames_fn(conv_layers), train)
    if train and cfg.max_sample_size and encode is not None:
        logger.warning(
            "max_sample_size %d crops training cuts, but their transcripts stay whole: the "
            "crop is meant for classification (lid, sid), not for CTC",
            cfg.max_sample_size,
        )
    lazy = bool(cuts.is_lazy)
    dropped: Counter = Counter()
    kept: List[Cut] = []
    n_kept = 0
    chunk: List[Cut] = []

    def flush() -> None:
        nonlocal n_kept
        for cut, reason in zip(chunk, test.reasons(chunk, log=True)):
            if reason:
                dropped[reason] += 1
            else:
                n_kept += 1
                if not lazy:
                    kept.append(cut)
        chunk.clear()

    for cut in tqdm(cuts, desc="filter cuts", disable=None, leave=False):
        chunk.append(cut)
        if len(chunk) >= 4096:
            flush()
    flush()
    dropped = Counter({r: n for r, n in dropped.items() if n})
    summary = ", ".join(f"{r}={n}" for r, n in sorted(dropped.items())) or "none"
    total = n_kept + sum(dropped.values())
    logger.info("filter_cuts: kept %d of %d cuts; dropped: %s", n_kept, total, summary)
    if lazy:
        return cuts.filter(test), dropped
    return CutSet.from_cuts(kept), dropped


class CutFilter:
    """The test of :func:`filter_cuts`: ``reasons(cuts)`` says why each is dropped (or None);
    called on one cut, whether it is kept (the predicate of a lazy ``CutSet.filter``)."""

    def __init__(
        self,
        cfg: DataConfig,
        encode: Optional[Callable[[str], Sequence[int]]],
        frames_fn: Callable[[Tensor], Tensor],
        train: bool,
    ) -> None:
        self.cfg, self.encode, self.frames_fn, self.train = cfg, encode, frames_fn, train
        fastest = max(cfg.speed_perturb, default=1.0) if train else 1.0
        self.rate = cfg.sample_rate / fastest

    def reasons(self, cuts: Sequence[Cut], log: bool = False) -> List[Optional[str]]:
        """Per cut, the reason it is dropped or None; ``log``: a warning per target error."""
        out: List[Optional[str]] = []
        candidates, needed = [], []
        for i, cut in enumerate(cuts):
            reason = _duration_problem(cut, self.cfg, self.train)
            if reason is None and self.encode is not None:
                try:
                    needed.append(ctc_min_frames(list(self.encode(cut_text(cut)))))
                    candidates.append(i)
                except Exception as err:
                    if log:
                        logger.warning(
                            "dropping cut %s: target_error (%s)", cut.id, describe_error(err)
                        )
                    reason = "target_error"
            out.append(reason)
        if candidates:
            feasible = _ctc_feasible(
                [cuts[i] for i in candidates], needed, self.frames_fn, self.rate
            )
            for i, ok in zip(candidates, feasible):
                if not ok:
                    out[i] = "ctc_infeasible"
        return out

    def __call__(self, cut: Cut) -> bool:
        return self.reasons([cut])[0] is None


def _duration_problem(cut: Cut, cfg: DataConfig, train: bool) -> Optional[str]:
    """Why ``cut``'s duration rules it out, or None (the longest training duration is the
    crop's, when ``max_sample_size`` crops)."""
    seconds = cut.duration
    if train and cfg.max_sample_size:
        seconds = min(seconds, cfg.max_sample_size / cfg.sample_rate)
    if cut.duration < cfg.min_cut_duration:
        return "too_short"
    if seconds > cfg.max_cut_duration:
        return "too_long"
    if train and compute_num_samples(cut.duration, cfg.sample_rate) < cfg.min_sample_size:
        return "below_min_sample_size"
    return None


def cut_frames(
    cuts: Sequence[Cut], frames_fn: Callable[[Tensor], Tensor], rate: float = 16000
) -> List[int]:
    """Encoder frames of each cut's audio at ``rate`` samples per second."""
    if not cuts:
        return []
    samples = torch.tensor([math.floor(c.duration * rate) for c in cuts], dtype=torch.int64)
    return frames_fn(samples).tolist()


def _ctc_feasible(
    cuts: Sequence[Cut], needed: Sequence[int], frames_fn: Callable[[Tensor], Tensor], rate: float
) -> List[bool]:
    """Per cut: does the encoder make ``needed`` frames of it at ``rate`` samples per second."""
    frames = cut_frames(cuts, frames_fn, rate)
    for cut, f, n in zip(cuts, frames, needed):
        if n > f:
            logger.debug("cut %s: %d frames, CTC needs %d", cut.id, f, n)
    return [n <= f for f, n in zip(frames, needed)]


def validate_cuts(
    cuts: CutSet, tolerance: float = 0.05, require_text: bool = False
) -> Tuple[CutSet, Dict[str, Any]]:
    """Check that every cut is a valid manifest entry whose audio decodes to its duration.

    Decodes all the audio (slow for a large corpus: run it once, in data preparation).

    Args:
        cuts: Cuts to check.
        tolerance: Largest allowed difference, in seconds, between the decoded length and
            the cut's duration.
        require_text: Also reject cuts with an empty transcript.

    Returns:
        (CutSet, dict): the good cuts, and a report with ``num_cuts``, ``num_good``,
        ``counts`` (reason -> number) and ``bad`` (cut id -> "reason: detail").
    """
    good, bad = [], {}
    counts: Counter = Counter()
    with mismatch_tolerance(tolerance):
        problems = [
            (cut, _cut_problem(cut, tolerance, require_text))
            for cut in tqdm(cuts, desc="validate cuts", disable=None, leave=False)
        ]
    for cut, problem in problems:
        if problem is None:
            good.append(cut)
            continue
        reason, detail = problem
        counts[reason] += 1
        bad[cut.id] = f"{reason}: {detail}" if detail else reason
        logger.warning("bad cut %s: %s", cut.id, bad[cut.id])
    report = {"num_cuts": len(good) + len(bad), "num_good": len(good), "counts": dict(counts)}
    report["bad"] = bad
    logger.info("validate_cuts: %d of %d cuts good; %s", len(good), report["num_cuts"], counts)
    return CutSet.from_cuts(good), report


def _cut_problem(cut: Cut, tolerance: float, require_text: bool) -> Optional[Tuple[str, str]]:
    """(reason, detail) of the first problem found in ``cut``, or None."""
    try:
        validate(cut, read_data=False)
    except Exception as err:
        return "invalid_manifest", describe_error(err)
    if not cut.supervisions:
        return "no_supervision", ""
    if require_text and not cut_text(cut):
        return "empty_text", ""
    try:
        audio = cut.load_audio()
    except Exception as err:
        return load_error_reason(err), describe_error(err)
    num = int(np.asarray(audio).shape[-1])
    if num == 0:
        return "empty_audio", ""
    if not np.isfinite(audio).all():
        return "non_finite_audio", ""
    if abs(num / cut.sampling_rate - cut.duration) > tolerance:
        decoded = f"{num / cut.sampling_rate:.3f}s decoded, {cut.duration:.3f}s declared"
        return "duration_mismatch", decoded
    return None
