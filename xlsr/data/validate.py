"""Check a manifest before a long training: what would be dropped, and why.

``validate_manifest`` runs the checks a training run would otherwise meet one batch at a
time, over a whole ``CutSet``, and returns a :class:`ValidationReport`:

    reason              kind   check
    invalid_manifest    error  lhotse's manifest validation
    no_supervision      error  the cut has a supervision
    unreadable_audio    error  the audio decodes (a missing file, a broken one)
    empty_audio         error  ... to at least one sample
    non_finite_audio    error  ... of finite values
    duration_mismatch   error  decoded vs declared duration, within ``tolerance``
    empty_text          error  a transcript, also after normalisation (``require_text``)
    unknown_symbols     error  the lang dir's normaliser + tokenizer know every symbol
    ctc_infeasible      error  the standard conv stack makes enough frames for CTC (``ctc``)
    resampled           note   the cut is not at ``sample_rate`` (resampled when loaded)

Each cut with an error is counted once, under the first error found (the audio checks
first); notes do not drop a cut. The text checks (the last two errors) need a lang dir.

    report = validate_manifest(load_manifest_lazy(path), lang_dir="data/lang_char")
    print(report.table())
    report.ok    # False when any cut would be dropped
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from lhotse import CutSet
from lhotse.cut import Cut

from xlsr.data.cuts import source_of
from xlsr.data.filters import ctc_min_frames, cut_frames, validate_cuts
from xlsr.data.frames import conv_frames_fn

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]

#: The notes: a cut kept, but worth knowing about.
NOTES = ("resampled",)


@dataclass
class ValidateConfig:
    """What ``validate_manifest`` checks."""

    tolerance: float = 0.05  # seconds: largest declared-vs-decoded duration difference
    require_text: bool = True  # an empty transcript is an error (ASR, ST); off for LID / SID
    ctc: bool = True  # frames of the standard conv stack >= CTC's need (needs a lang dir)
    sample_rate: int = 16000  # the encoder's rate; cuts at other rates are resampled (a note)
    max_examples: int = 3  # examples kept per reason

    def __post_init__(self) -> None:
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0 seconds, got {self.tolerance}")


@dataclass
class ValidationReport:
    """What ``validate_manifest`` found in one manifest.

    Attributes:
        manifest: Name of the checked manifest (its path).
        num_cuts: Cuts checked.
        counts: reason -> cuts that would be dropped.
        notes: reason -> cuts kept with a note (``resampled``).
        examples: reason -> the first ``max_examples`` cuts, ``{"cut", "file", "detail"}``.
        unknown_symbols: symbol -> occurrences in the transcripts (with a lang dir).
        checks: The checks that ran (``audio``, ``text``, ``unknown_symbols``, ``ctc``).
    """

    manifest: str = ""
    num_cuts: int = 0
    counts: Dict[str, int] = field(default_factory=dict)
    notes: Dict[str, int] = field(default_factory=dict)
    examples: Dict[str, List[Dict[str, str]]] = field(default_factory=dict)
    unknown_symbols: Dict[str, int] = field(default_factory=dict)
    checks: List[str] = field(default_factory=list)

    @property
    def num_dropped(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when no cut would be dropped (notes are fine)."""
        return self.num_dropped == 0

    def to_dict(self) -> dict:
        return {**asdict(self), "num_dropped": self.num_dropped, "ok": self.ok}

    def table(self) -> str:
        """A summary: one row per reason (count, first examples), then the unknown symbols."""
        head = f"{self.manifest}: {self.num_cuts} cuts, {self.num_dropped} would be dropped"
        rows = [(r, n, "error") for r, n in self.counts.items()]
        rows += [(r, n, "note") for r, n in self.notes.items()]
        if not rows:
            return f"{head} (checked: {', '.join(self.checks)})"
        lines = [head, f"  {'reason':<18} | {'kind':<5} | {'count':>5} | first examples"]
        for reason, n, kind in rows:
            shown = "; ".join(_example(e) for e in self.examples.get(reason, []))
            lines.append(f"  {reason:<18} | {kind:<5} | {n:>5} | {shown}")
        if self.unknown_symbols:
            top = sorted(self.unknown_symbols.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            lines.append("  unknown symbols: " + ", ".join(f"{s!r} x{n}" for s, n in top))
        return "\n".join(lines)


def _example(e: Dict[str, str], width: int = 60) -> str:
    """``cut file (detail)``, the detail cut to ``width`` characters (the JSON has all)."""
    detail = e.get("detail", "")
    if len(detail) > width:
        detail = detail[: width - 3] + "..."
    return f"{e['cut']} {e['file']}" + (f" ({detail})" if detail else "")


def validate_manifest(
    cuts: Iterable[Cut],
    lang_dir: Optional[Pathlike] = None,
    cfg: Optional[ValidateConfig] = None,
    name: str = "",
) -> ValidationReport:
    """Checks every cut of a manifest (decodes all its audio: seconds per thousand cuts).

    Args:
        cuts: The cuts (a lazy manifest is read twice).
        lang_dir: A lang dir (``text_norm.json``, ``tokenizer/``) for the text checks;
            None checks the audio and the presence of text only.
        cfg: What to check; default :class:`ValidateConfig`.
        name: The manifest's name in the report.

    Returns:
        ValidationReport: counts per reason, examples, notes and unknown symbols.
    """
    cfg = cfg or ValidateConfig()
    report = ValidationReport(manifest=name, checks=["audio"])
    if cfg.require_text:
        report.checks.append("text")
    cut_set = cuts if isinstance(cuts, CutSet) else CutSet.from_cuts(cuts)
    good, audio = validate_cuts(cut_set, cfg.tolerance, cfg.require_text)
    report.num_cuts = audio["num_cuts"]
    files: Dict[str, str] = {}
    for cut in cut_set:
        files[cut.id] = source_of(cut)
        if cut.sampling_rate != cfg.sample_rate:
            _add(report, cfg, "resampled", cut.id, files[cut.id], f"{cut.sampling_rate} Hz")
    for cut_id, problem in audio["bad"].items():
        reason, _, detail = problem.partition(": ")
        if reason == "unreadable_audio" and files.get(cut_id) and not Path(files[cut_id]).exists():
            detail = "no such file"
        _add(report, cfg, reason, cut_id, files.get(cut_id, ""), detail)
    if lang_dir is not None:
        _check_text(good, Path(lang_dir), cfg, report, files)
    logger.info(
        "%s: %d of %d cuts would be dropped %s",
        name,
        report.num_dropped,
        report.num_cuts,
        report.counts,
    )
    return report


def _check_text(
    cuts: CutSet, lang_dir: Path, cfg: ValidateConfig, report: ValidationReport, files: dict
) -> None:
    """Unknown symbols and CTC feasibility of the cuts whose audio is fine."""
    from xlsr.data.targets import CutTargets

    targets = CutTargets.from_lang_dir(lang_dir)  # the very targets training builds
    report.checks.append("unknown_symbols")
    unknown_all: Counter = Counter()
    feasible, needed = [], []
    for cut in cuts:
        try:
            ids, unknown = targets.checked(cut)
        except ValueError as err:  # a per-language tokenizer without this language
            ids, unknown = [], [f"<{err}>"]
        unknown_all.update(unknown)
        if unknown:
            shown = " ".join(dict.fromkeys(unknown))
            _add(report, cfg, "unknown_symbols", cut.id, files[cut.id], shown)
        elif cfg.require_text and not ids:
            _add(report, cfg, "empty_text", cut.id, files[cut.id], "empty after normalisation")
        else:
            feasible.append(cut)
            needed.append(ctc_min_frames(ids))
    report.unknown_symbols = dict(unknown_all)
    if not cfg.ctc:
        return
    report.checks.append("ctc")
    frames = cut_frames(feasible, conv_frames_fn(), cfg.sample_rate)
    for cut, f, n in zip(feasible, frames, needed):
        if n > f:
            _add(report, cfg, "ctc_infeasible", cut.id, files[cut.id], f"{n} > {f} frames")


def _add(
    report: ValidationReport, cfg: ValidateConfig, reason: str, cut_id: str, file: str, detail=""
) -> None:
    """Counts one cut under ``reason`` (a note or an error) and keeps the first examples."""
    table = report.notes if reason in NOTES else report.counts
    table[reason] = table.get(reason, 0) + 1
    shown = report.examples.setdefault(reason, [])
    if len(shown) < cfg.max_examples:
        shown.append({"cut": cut_id, "file": file, "detail": detail})
