"""``AudioDataset``: a ``CutSet`` batch in, padded raw audio and targets out.

    dataset = AudioDataset.from_config(cfg, train=True, target_fn=TokenTargets(encode))
    batch = dataset[cuts]   # waveforms (B, S), lengths (B,), supervisions, skipped

Bad input never crashes a run and is never lost silently: a cut whose audio does not decode
(``unreadable_audio``), decodes shorter or longer than its manifest says by more than
``duration_tolerance`` (``duration_mismatch``: a truncated file), is shorter than the
encoder's receptive field (``too_short_audio``), has no supervision, an empty transcript
(when text is required) or a target that cannot be built is skipped with a warning naming
the cut and the reason, and counted in ``dataset.skipped`` (a ``SkipCounter``).

Augmentation (training only), deterministic given ``DataConfig.seed``, the epoch and the cut
id, whichever worker loads the cut: speed perturbation (lhotse ``perturb_speed``, pitch
changes with speed, as in Kaldi) and additive noise (``xlsr.data.noise``).
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from lhotse import CutSet
from lhotse.cut import Cut
from torch import Tensor
from torch.utils.data import Dataset

from xlsr.data.audio import (
    describe_error,
    load_error_reason,
    mono,
    resample_waveform,
    set_mismatch_tolerance,
)
from xlsr.data.config import DataConfig
from xlsr.data.cuts import cut_text, first_sup, source_of, translation
from xlsr.data.noise import NoiseMixer

logger = logging.getLogger(__name__)


class SkipCounter:
    """Cuts skipped while loading: a warning per cut, counts per reason.

    Attributes:
        counts (Counter): reason -> number of skips (over all passes over the data).
        cut_ids (dict): cut id -> reason of its latest skip.
    """

    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.cut_ids: Dict[str, str] = {}

    def add(self, cut_id: str, reason: str, detail: str = "") -> None:
        """Count one skip and log a warning naming the cut and the reason."""
        logger.warning("skipping cut %s: %s%s", cut_id, reason, f" ({detail})" if detail else "")
        self.merge([(cut_id, reason)])

    def merge(self, skipped: Iterable[Tuple[str, str]]) -> None:
        """Count skips already logged elsewhere (in a DataLoader worker)."""
        for cut_id, reason in skipped:
            self.counts[reason] += 1
            self.cut_ids[cut_id] = reason

    @property
    def total(self) -> int:
        """Number of skips over all reasons."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line: total and count per reason."""
        per_reason = ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items()))
        return f"skipped {self.total} cut(s)" + (f": {per_reason}" if per_reason else "")

    def __repr__(self) -> str:
        return f"SkipCounter({dict(self.counts)})"


class TokenTargets:
    """ASR targets: ``target_fn`` that encodes a cut's transcript into token ids.

    With it, a batch's ``supervisions`` hold ``targets`` (list of lists of ints) and
    ``target_lengths`` (B,) int64, ready for a CTC or transducer loss.

    Args:
        encode: text -> token ids (a tokenizer's ``encode``); picklable for worker processes.
    """

    def __init__(self, encode: Callable[[str], Sequence[int]]):
        self.encode = encode

    def __call__(self, cut: Cut) -> List[int]:
        return [int(t) for t in self.encode(cut_text(cut))]


class _Item(NamedTuple):
    """One loaded cut."""

    cut: Cut  # as loaded (speed-perturbed cuts have ids ending in "_sp<factor>")
    cut_id: str  # id in the manifest
    waveform: Tensor  # (samples,) float32 at the dataset's rate
    target: Any  # target_fn(cut), or None without target_fn


class AudioDataset(Dataset):
    """Map-style dataset (lhotse pattern): a ``CutSet`` batch in, padded raw audio out.

    ``__getitem__`` loads each cut's audio (``cut.load_audio()``), averages channels,
    resamples it to ``sample_rate`` (warning once per foreign rate and process), applies the
    training augmentation and pads the batch with zeros. Cuts that cannot be used are skipped
    with a warning and counted in ``self.skipped`` (and listed in the batch's ``skipped``);
    the batch keeps the remaining cuts, and when none remains it has B = 0.

    Args:
        sample_rate: Rate of the output waveforms (the encoder's, 16 kHz for XLS-R).
        target_fn: ``cut -> target`` (token ids for ASR, e.g. ``TokenTargets``; a class id for
            LID / SID); raising skips the cut. None: no targets.
        require_text: Skip cuts whose transcript is empty (ASR); False for LID / SID data.
        speed_factors: Speed perturbation factors drawn per cut; () or (1.0,) for none.
        noise: Optional ``NoiseMixer`` for additive noise.
        seed: Seed of the augmentation draws.
        min_samples: Shorter audio (after resampling) is skipped as ``too_short_audio``.
        duration_tolerance: Seconds the decoded audio may differ from the manifest before
            the cut is skipped as ``duration_mismatch`` (e.g. a truncated file).
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        target_fn: Optional[Callable[[Cut], Any]] = None,
        require_text: bool = True,
        speed_factors: Sequence[float] = (),
        noise: Optional[NoiseMixer] = None,
        seed: int = 0,
        min_samples: int = 400,
        duration_tolerance: float = 0.05,
    ):
        self.sample_rate = sample_rate
        self.min_samples = min_samples
        self.duration_tolerance = duration_tolerance
        self.target_fn = target_fn
        self.require_text = require_text
        self.speed_factors = tuple(float(f) for f in speed_factors)
        self.noise = noise
        self.seed = seed
        self.epoch = 0
        self.skipped = SkipCounter()
        self._warned_rates: set = set()

    @classmethod
    def from_config(
        cls,
        cfg: DataConfig,
        train: bool,
        target_fn: Optional[Callable[[Cut], Any]] = None,
        require_text: bool = True,
    ) -> AudioDataset:
        """The dataset ``cfg`` describes; augmentation (speed, noise) only when ``train``."""
        noise = None
        if train and cfg.musan_cuts:
            noise_cuts = CutSet.from_file(cfg.musan_cuts)
            noise = NoiseMixer(noise_cuts, cfg.noise_snr, cfg.noise_prob, cfg.sample_rate)
            logger.info("mixing noise from %s (%d cuts)", cfg.musan_cuts, len(noise.noise))
        return cls(
            sample_rate=cfg.sample_rate,
            target_fn=target_fn,
            require_text=require_text,
            speed_factors=cfg.speed_perturb if train else (),
            noise=noise,
            seed=cfg.seed,
            min_samples=cfg.min_audio_samples,
            duration_tolerance=cfg.duration_tolerance,
        )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; augmentation draws depend on (seed, epoch, cut id)."""
        self.epoch = epoch

    def __getitem__(self, cuts: CutSet) -> Dict[str, Any]:
        """Load, augment and pad one batch.

        Returns:
            dict: ``waveforms`` (B, S) float32, zero after each length; ``lengths`` (B,) int64
            samples; ``cuts`` (CutSet, as loaded); ``cut_ids`` (manifest ids); ``supervisions``
            (dict of ``texts``, ``languages``, ``speakers``, ``translations`` lists,
            ``durations`` (B,) float32 seconds as loaded, plus ``targets`` and, for sequence
            targets, ``target_lengths`` (B,) int64, or for int targets ``targets`` (B,) int64);
            ``skipped`` (list of (cut id, reason) of this batch); ``skipped_sources`` (cut id
            -> audio file of each skipped cut). B may be 0.
        """
        items: List[_Item] = []
        skipped: List[Tuple[str, str]] = []
        set_mismatch_tolerance(self.duration_tolerance)  # in this (worker) process
        for cut in cuts:
            item, reason = self._load(cut)
            if item is not None:
                items.append(item)
            else:
                skipped.append((cut.id, reason))
        batch = collate_items(items, skipped, self.target_fn is not None)
        skipped_ids = {cut_id for cut_id, _ in skipped}
        batch["skipped_sources"] = {c.id: source_of(c) for c in cuts if c.id in skipped_ids}
        return batch

    def _load(self, cut: Cut) -> Tuple[Optional[_Item], str]:
        """(item, "") for a usable cut, (None, reason) after logging and counting a skip."""
        if not cut.supervisions:
            return self._skip(cut, "no_supervision")
        if self.require_text and not cut_text(cut):
            return self._skip(cut, "empty_text")
        rng = random.Random(f"{self.seed}/{self.epoch}/{cut.id}")
        loaded = cut
        if self.speed_factors:
            factor = rng.choice(self.speed_factors)
            if factor != 1.0:
                loaded = cut.perturb_speed(factor)
        try:
            wave = mono(loaded.load_audio())
        except Exception as err:  # lhotse / soundfile / audioread raise many types
            return self._skip(cut, load_error_reason(err), describe_error(err))
        wave = self._to_rate(wave, loaded.sampling_rate)
        if wave.numel() == 0:
            return self._skip(cut, "empty_audio")
        if wave.numel() < self.min_samples:
            detail = f"{wave.numel()} samples, the encoder needs {self.min_samples}"
            return self._skip(cut, "too_short_audio", detail)
        if not bool(torch.isfinite(wave).all()):
            return self._skip(cut, "non_finite_audio")
        if self.noise is not None:
            wave = self.noise(wave, rng)
        target = None
        if self.target_fn is not None:
            try:
                target = self.target_fn(loaded)
            except Exception as err:  # a user hook: report, do not crash the epoch
                return self._skip(cut, "target_error", describe_error(err))
        return _Item(loaded, cut.id, wave, target), ""

    def _to_rate(self, wave: Tensor, rate: int) -> Tensor:
        if rate == self.sample_rate:
            return wave
        if rate not in self._warned_rates:
            self._warned_rates.add(rate)
            logger.warning("resampling cuts at %d Hz to %d Hz", rate, self.sample_rate)
        return resample_waveform(wave, rate, self.sample_rate)

    def _skip(self, cut: Cut, reason: str, detail: str = "") -> Tuple[None, str]:
        self.skipped.add(cut.id, reason, detail)
        return None, reason


def collate_items(
    items: Sequence[_Item], skipped: List[Tuple[str, str]], with_targets: bool
) -> Dict[str, Any]:
    """Pad loaded cuts into a batch (see ``AudioDataset.__getitem__`` for the keys)."""
    lengths = torch.tensor([it.waveform.numel() for it in items], dtype=torch.int64)
    waveforms = torch.zeros(len(items), int(lengths.max()) if items else 0, dtype=torch.float32)
    for i, it in enumerate(items):
        waveforms[i, : it.waveform.numel()] = it.waveform
    sups: Dict[str, Any] = {
        "texts": [cut_text(it.cut) for it in items],
        "languages": [first_sup(it.cut, "language") for it in items],
        "speakers": [first_sup(it.cut, "speaker") for it in items],
        "translations": [translation(it.cut) for it in items],
        "durations": torch.tensor([it.cut.duration for it in items], dtype=torch.float32),
    }
    if with_targets:
        sups.update(_collate_targets([it.target for it in items]))
    return {
        "waveforms": waveforms,
        "lengths": lengths,
        "cuts": CutSet.from_cuts([it.cut for it in items]),
        "cut_ids": [it.cut_id for it in items],
        "supervisions": sups,
        "skipped": skipped,
    }


def _collate_targets(targets: List[Any]) -> Dict[str, Any]:
    """Sequences -> ``targets`` + ``target_lengths``; ints -> (B,) tensor; else as they are."""
    if targets and all(isinstance(t, (int, np.integer)) for t in targets):
        return {"targets": torch.tensor([int(t) for t in targets], dtype=torch.int64)}
    if all(isinstance(t, (list, tuple)) for t in targets):
        lengths = torch.tensor([len(t) for t in targets], dtype=torch.int64)
        return {"targets": [list(t) for t in targets], "target_lengths": lengths}
    return {"targets": targets}
