"""lhotse ``CutSet`` -> batches of raw 16 kHz audio for the XLS-R encoder (no fbank).

The pieces, in the order a recipe uses them:

    cuts, dropped = filter_cuts(cuts, cfg, encode=tokenizer.encode)   # durations, CTC
    loader, sampler = make_dataloader(cuts, cfg, train=True, target_fn=TokenTargets(encode))
    for epoch in range(start_epoch, num_epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            if batch["lengths"].numel() == 0:   # every cut of the batch was skipped
                continue
            hidden, frames = encoder(batch["waveforms"], batch["lengths"])
            ...
            checkpoint["sampler"] = sampler.state_dict()   # resumes after this batch

Bad input never crashes a run and is never lost silently: a cut whose audio does not decode
(``unreadable_audio``), decodes shorter or longer than its manifest says by more than
``duration_tolerance`` (``duration_mismatch``: a truncated file), is shorter than the encoder's
receptive field (``too_short_audio``), has no supervision, an empty transcript (when text is required) or a target that cannot be
built is skipped with a warning naming the cut and the reason, and counted in
``dataset.skipped``. ``validate_cuts`` checks a whole manifest up front.

Augmentation (training only), deterministic given ``DataConfig.seed``, the epoch and the cut
id, whichever worker loads the cut: speed perturbation (lhotse ``perturb_speed``, pitch
changes with speed, as in Kaldi) and additive noise (e.g. MUSAN) at a random SNR.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from lhotse import (
    CutSet,
    get_audio_duration_mismatch_tolerance,
    set_audio_duration_mismatch_tolerance,
    validate,
)
from lhotse.audio import AudioLoadingError
from lhotse.augmentation.resample import Resample
from lhotse.cut import Cut
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from xlsr.data.sampling import CheckpointableSampler, make_sampler
from xlsr.models.components import conv_output_lengths
from xlsr.models.config import DEFAULT_CONV_LAYERS, ConvLayer

logger = logging.getLogger(__name__)

__all__ = [
    "AudioDataLoader",
    "AudioDataset",
    "DataConfig",
    "NoiseMixer",
    "SkipCounter",
    "TokenTargets",
    "conv_frames_fn",
    "ctc_min_frames",
    "cut_frames",
    "cut_text",
    "filter_cuts",
    "make_dataloader",
    "make_sampler",
    "resample_waveform",
    "source_of",
    "validate_cuts",
]

# ----------------------------------------------------------------------------- config


@dataclass
class DataConfig:
    """Batching, filtering and augmentation of the audio data."""

    # Seconds of audio per batch: the sum of the cut durations (lhotse ``max_duration``),
    # measured before speed perturbation (a 0.9 factor makes a batch up to 11 % longer).
    max_duration: float = 200.0
    min_cut_duration: float = 0.5  # filter_cuts drops cuts shorter than this (seconds)
    max_cut_duration: float = 20.0  # filter_cuts drops cuts longer than this (<= max_duration)
    num_buckets: int = 30  # duration buckets of the training sampler (DynamicBucketingSampler)
    shuffle: bool = True  # shuffle the training batches (decoding keeps manifest order)
    seed: int = 42  # seed of shuffling, speed perturbation and noise mixing
    drop_last: bool = False  # training: drop a bucket's last, incomplete batch (loses cuts)
    # Speed factors drawn uniformly per cut and epoch in training, e.g. (0.9, 1.0, 1.1);
    # () turns speed perturbation off. Kaldi / icefall use (0.9, 1.0, 1.1).
    speed_perturb: Tuple[float, ...] = ()
    musan_cuts: Optional[str] = None  # noise CutSet manifest (e.g. MUSAN); None: no noise
    noise_snr: Tuple[float, float] = (10.0, 20.0)  # SNR range of mixed noise, dB (uniform)
    noise_prob: float = 0.5  # probability that a training cut gets noise
    num_workers: int = 0  # DataLoader worker processes; 0 loads audio in the main process
    sample_rate: int = 16000  # rate the encoder takes; cuts at other rates are resampled
    # Audio shorter than this many samples (at sample_rate) is skipped as too_short_audio:
    # the receptive field of wav2vec 2.0's conv feature encoder (400 samples = 25 ms).
    min_audio_samples: int = 400
    # Seconds a decoded file may differ from its manifest duration; a larger difference (a
    # truncated file) skips the cut as duration_mismatch. lhotse pads or trims smaller ones.
    duration_tolerance: float = 0.05
    # Transcripts with symbols the tokenizer does not know (another script, emoji, a literal
    # "<blk>"): "keep" trains them with <unk> (counted and reported), "drop" drops them.
    unknown_symbols: str = "keep"

    def __post_init__(self) -> None:
        self.speed_perturb = tuple(float(f) for f in self.speed_perturb)
        self.noise_snr = (float(self.noise_snr[0]), float(self.noise_snr[1]))
        if not 0 < self.min_cut_duration <= self.max_cut_duration <= self.max_duration:
            raise ValueError(
                "need 0 < min_cut_duration <= max_cut_duration <= max_duration, got "
                f"{self.min_cut_duration}, {self.max_cut_duration}, {self.max_duration}"
            )
        if any(f <= 0 for f in self.speed_perturb):
            raise ValueError(f"speed_perturb factors must be > 0, got {self.speed_perturb}")
        if not 0.0 <= self.noise_prob <= 1.0:
            raise ValueError(f"noise_prob must be in [0, 1], got {self.noise_prob}")
        if self.noise_snr[0] > self.noise_snr[1]:
            raise ValueError(f"noise_snr must be (low, high), got {self.noise_snr}")
        if self.unknown_symbols not in ("keep", "drop"):
            raise ValueError(f"unknown_symbols must be 'keep' or 'drop', got {self.unknown_symbols!r}")  # fmt: skip
        if self.duration_tolerance < 0 or self.min_audio_samples < 0:
            raise ValueError(
                "duration_tolerance and min_audio_samples must be >= 0, got "
                f"{self.duration_tolerance}, {self.min_audio_samples}"
            )


# ----------------------------------------------------------------------------- helpers


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


def cut_text(cut: Cut) -> str:
    """The transcript of a cut: its supervisions' texts joined by spaces, stripped."""
    return " ".join((s.text or "").strip() for s in cut.supervisions).strip()


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


_RESAMPLERS: Dict[Tuple[int, int], Resample] = {}


def resample_waveform(waveform: Tensor, source_rate: int, target_rate: int) -> Tensor:
    """Band-limited sinc resampling (lhotse's torch port of torchaudio's ``Resample``).

    Used instead of ``cut.resample()`` because lhotse resamples lazily with torchaudio or,
    without it, scipy, and the modern lane has neither.

    Args:
        waveform (Tensor): (samples,) or (channels, samples) float.
        source_rate: Rate of ``waveform``.
        target_rate: Rate wanted.

    Returns:
        Tensor: same leading shape, ``ceil(samples * target_rate / source_rate)`` samples.
    """
    if source_rate == target_rate:
        return waveform
    key = (int(source_rate), int(target_rate))
    if key not in _RESAMPLERS:
        _RESAMPLERS[key] = Resample(orig_freq=key[0], new_freq=key[1])
    return _RESAMPLERS[key](waveform)


def _mono(audio: np.ndarray) -> Tensor:
    """(channels, samples) or (samples,) float audio -> (samples,) float32, channels averaged."""
    wave = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    return wave.mean(dim=0) if wave.dim() == 2 else wave.reshape(-1)


def source_of(cut: Cut) -> str:
    """The audio file (or URL / command) of a cut's recording, for messages; "" if none."""
    recording = getattr(cut, "recording", None)
    return str(recording.sources[0].source) if recording is not None and recording.sources else ""


def _load_error_reason(err: BaseException) -> str:
    """``duration_mismatch`` when lhotse found fewer/more samples than the manifest declares
    (a truncated file), else ``unreadable_audio``."""
    mismatch = isinstance(err, AudioLoadingError) and "declared samples" in str(err)
    return "duration_mismatch" if mismatch else "unreadable_audio"


def _describe(err: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


# ----------------------------------------------------------------------------- noise


def add_noise(speech: Tensor, noise: Tensor, snr_db: float) -> Tensor:
    """``speech + g * noise`` with ``g`` set so that the speech-to-noise power ratio is ``snr_db``.

    Args:
        speech (Tensor): (samples,) float.
        noise (Tensor): (samples,) float, same length.
        snr_db: Signal-to-noise ratio in dB.

    Returns:
        Tensor: (samples,); ``speech`` unchanged when either signal is silent.
    """
    if speech.shape != noise.shape:
        raise ValueError(f"speech {tuple(speech.shape)} and noise {tuple(noise.shape)} differ")
    p_speech, p_noise = speech.pow(2).mean(), noise.pow(2).mean()
    if p_speech <= 0 or p_noise <= 0:
        return speech
    gain = torch.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return speech + gain * noise


class NoiseMixer:
    """Additive noise: a random excerpt of a random noise cut at a random SNR.

    Mixing happens on loaded waveforms (at the encoder's rate), so speech and noise need not
    share a sampling rate. A noise cut whose audio fails to load is reported and the speech
    is left clean.

    Args:
        noise_cuts: Noise recordings (e.g. MUSAN noise / music), any rate and length.
        snr: (low, high) SNR range in dB, drawn uniformly.
        prob: Probability that a waveform gets noise.
        sample_rate: Rate of the waveforms passed in.
    """

    def __init__(
        self,
        noise_cuts: CutSet,
        snr: Tuple[float, float] = (10.0, 20.0),
        prob: float = 0.5,
        sample_rate: int = 16000,
    ):
        self.noise = list(noise_cuts)
        if not self.noise:
            raise ValueError("the noise CutSet is empty")
        self.snr, self.prob, self.sample_rate = snr, prob, sample_rate

    def __call__(self, waveform: Tensor, rng: random.Random) -> Tensor:
        """Maybe mix noise into ``waveform`` (samples,), drawing every choice from ``rng``."""
        mix = rng.random() < self.prob
        noise_cut = self.noise[rng.randrange(len(self.noise))]
        snr, offset_frac = rng.uniform(*self.snr), rng.random()
        if not mix or waveform.numel() == 0:
            return waveform
        try:
            noise = self._excerpt(noise_cut, waveform.numel(), offset_frac)
        except Exception as err:  # a bad noise file must not cost the speech cut
            logger.warning("noise cut %s not mixed: %s", noise_cut.id, _describe(err))
            return waveform
        return add_noise(waveform, noise, snr)

    def _excerpt(self, cut: Cut, num_samples: int, offset_frac: float) -> Tensor:
        """(num_samples,) of ``cut`` from a random offset, repeated when it is too short."""
        duration = num_samples / self.sample_rate
        if cut.duration > duration:
            cut = cut.truncate(offset=offset_frac * (cut.duration - duration), duration=duration)
        noise = resample_waveform(_mono(cut.load_audio()), cut.sampling_rate, self.sample_rate)
        if noise.numel() == 0:
            raise ValueError("noise audio is empty")
        return noise.repeat(math.ceil(num_samples / noise.numel()))[:num_samples]


# ----------------------------------------------------------------------------- dataset


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
            sample_rate=cfg.sample_rate, target_fn=target_fn, require_text=require_text,
            speed_factors=cfg.speed_perturb if train else (), noise=noise, seed=cfg.seed,
            min_samples=cfg.min_audio_samples, duration_tolerance=cfg.duration_tolerance,
        )  # fmt: skip

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
        _set_mismatch_tolerance(self.duration_tolerance)  # in this (worker) process
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
            wave = _mono(loaded.load_audio())
        except Exception as err:  # lhotse / soundfile / audioread raise many types
            return self._skip(cut, _load_error_reason(err), _describe(err))
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
                return self._skip(cut, "target_error", _describe(err))
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
        "languages": [_first_sup(it.cut, "language") for it in items],
        "speakers": [_first_sup(it.cut, "speaker") for it in items],
        "translations": [_translation(it.cut) for it in items],
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


def _first_sup(cut: Cut, field: str) -> Optional[str]:
    return getattr(cut.supervisions[0], field) if cut.supervisions else None


def _translation(cut: Cut) -> Optional[str]:
    """``custom['translation']`` of the supervisions, joined; None when none has one."""
    parts = [(s.custom or {}).get("translation") for s in cut.supervisions]
    parts = [p for p in parts if p]
    return " ".join(parts) if parts else None


# ----------------------------------------------------------------------------- loader


class AudioDataLoader(DataLoader):
    """``DataLoader`` that keeps sampler state and skip counts in step with the loop.

    For each batch it hands out, it tells a ``CheckpointableSampler`` the batch was consumed
    (so ``sampler.state_dict()`` resumes right after it, prefetching notwithstanding) and,
    when workers load the audio, adds the batch's skips to ``dataset.skipped`` of this
    process. After a full pass it logs the skip summary.
    """

    def __iter__(self):
        dataset, sampler = self.dataset, self.sampler
        for batch in super().__iter__():
            if isinstance(sampler, CheckpointableSampler):
                sampler.mark_consumed()
            if self.num_workers > 0 and isinstance(dataset, AudioDataset):
                dataset.skipped.merge(batch["skipped"])
            yield batch
        if isinstance(dataset, AudioDataset) and dataset.skipped.total:
            logger.warning("data pass done, %s", dataset.skipped.summary())


def make_dataloader(
    cuts: CutSet,
    cfg: DataConfig,
    train: bool,
    target_fn: Optional[Callable[[Cut], Any]] = None,
    require_text: bool = True,
) -> Tuple[AudioDataLoader, CheckpointableSampler]:
    """A loader of padded raw-audio batches and its checkpointable sampler.

    Args:
        cuts: The (filtered) cuts.
        cfg: Batching, augmentation and worker settings.
        train: Bucketing, shuffling and augmentation when True; manifest order, no
            augmentation otherwise.
        target_fn: ``cut -> target`` hook (see ``AudioDataset``).
        require_text: Skip cuts with an empty transcript.

    Returns:
        (AudioDataLoader, CheckpointableSampler): iterate the loader; call
        ``sampler.set_epoch(epoch)`` before each epoch and save ``sampler.state_dict()`` in
        checkpoints. The dataset is ``loader.dataset`` (skip counts in ``.skipped``).
    """
    dataset = AudioDataset.from_config(cfg, train, target_fn, require_text)
    # Starting an iteration draws the workers' base seed from the loader's generator. Left
    # to the global RNG, that draw would shift the dropout / masking streams of a run
    # resumed mid-epoch (its iterator starts after the checkpoint's RNG state is restored).
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = CheckpointableSampler(
        make_sampler(cuts, cfg, train), on_epoch=_EpochSetter(dataset, generator, cfg.seed)
    )
    loader = AudioDataLoader(
        dataset, sampler=sampler, batch_size=None, num_workers=cfg.num_workers,
        persistent_workers=False, generator=generator,
    )  # fmt: skip
    return loader, sampler


class _EpochSetter:
    """``on_epoch`` hook: the dataset's augmentation epoch and the loader's generator (so
    worker seeds depend on (seed, epoch) only)."""

    def __init__(self, dataset: AudioDataset, generator: torch.Generator, seed: int) -> None:
        self.dataset, self.generator, self.seed = dataset, generator, seed

    def __call__(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        self.generator.manual_seed(self.seed * 1_000_003 + epoch)


# ----------------------------------------------------------------------------- filters


def conv_frames_fn(
    conv_layers: Sequence[ConvLayer] = DEFAULT_CONV_LAYERS,
) -> Callable[[Tensor], Tensor]:
    """``samples (N,) -> frames (N,)`` of a conv feature extractor (int64 tensors).

    For the standard wav2vec 2.0 stack, ``frames = floor((samples - 400) / 320) + 1``.
    """
    layers = [tuple(layer) for layer in conv_layers]
    return lambda samples: conv_output_lengths(samples, layers)


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
    shortest audio the cut can become). Logs a summary of what was dropped and why.

    Args:
        cuts: Cuts to filter (read once; the result is eager).
        cfg: ``min_cut_duration``, ``max_cut_duration``, ``sample_rate``, ``speed_perturb``.
        encode: text -> token ids; None skips the CTC check.
        frames_fn: samples (N,) int64 -> encoder frames (N,); default from ``conv_layers``.
        conv_layers: (channels, kernel, stride) of the feature extractor.
        train: Whether ``cfg.speed_perturb`` applies to these cuts.

    Returns:
        (CutSet, Counter): the kept cuts, and reason -> number dropped (``too_short``,
        ``too_long``, ``target_error``, ``ctc_infeasible``).
    """
    frames_fn = frames_fn or conv_frames_fn(conv_layers)
    fastest = max(cfg.speed_perturb, default=1.0) if train else 1.0
    dropped: Counter = Counter()
    candidates, needed = [], []
    for cut in tqdm(cuts, desc="filter cuts", disable=None, leave=False):
        if cut.duration < cfg.min_cut_duration or cut.duration > cfg.max_cut_duration:
            dropped["too_short" if cut.duration < cfg.min_cut_duration else "too_long"] += 1
            continue
        if encode is not None:
            try:
                needed.append(ctc_min_frames(list(encode(cut_text(cut)))))
            except Exception as err:
                logger.warning("dropping cut %s: target_error (%s)", cut.id, _describe(err))
                dropped["target_error"] += 1
                continue
        candidates.append(cut)
    kept = candidates
    if encode is not None:
        rate = cfg.sample_rate / fastest
        feasible = _ctc_feasible(candidates, needed, frames_fn, rate)
        kept = [c for c, ok in zip(candidates, feasible) if ok]
        dropped["ctc_infeasible"] = len(candidates) - len(kept)
    dropped = Counter({r: n for r, n in dropped.items() if n})
    total = len(kept) + sum(dropped.values())
    summary = ", ".join(f"{r}={n}" for r, n in sorted(dropped.items())) or "none"
    logger.info("filter_cuts: kept %d of %d cuts; dropped: %s", len(kept), total, summary)
    return CutSet.from_cuts(kept), dropped


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


# ----------------------------------------------------------------------------- validation


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
    with _mismatch_tolerance(tolerance):
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
        return "invalid_manifest", _describe(err)
    if not cut.supervisions:
        return "no_supervision", ""
    if require_text and not cut_text(cut):
        return "empty_text", ""
    try:
        audio = cut.load_audio()
    except Exception as err:
        return _load_error_reason(err), _describe(err)
    num = int(np.asarray(audio).shape[-1])
    if num == 0:
        return "empty_audio", ""
    if not np.isfinite(audio).all():
        return "non_finite_audio", ""
    if abs(num / cut.sampling_rate - cut.duration) > tolerance:
        return "duration_mismatch", f"{num / cut.sampling_rate:.3f}s decoded, {cut.duration:.3f}s declared"  # fmt: skip
    return None


def _set_mismatch_tolerance(seconds: float) -> None:
    """Sets lhotse's (process-global) audio duration mismatch tolerance, quietly."""
    if get_audio_duration_mismatch_tolerance() == seconds:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lhotse warns when going below its default
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.WARNING)  # and logs the change at INFO on the root logger
        try:
            set_audio_duration_mismatch_tolerance(seconds)
        finally:
            root.setLevel(level)


@contextlib.contextmanager
def _mismatch_tolerance(seconds: float):
    """Temporarily set lhotse's audio duration mismatch tolerance (default 0.5 s).

    Within the tolerance lhotse silently pads or trims decoded audio to the manifest's
    length, so a tighter one is what makes ``load_audio`` report a short file.
    """
    previous = get_audio_duration_mismatch_tolerance()
    _set_mismatch_tolerance(seconds)
    try:
        yield
    finally:
        _set_mismatch_tolerance(previous)
