"""``DataConfig``: the options of batching, filtering and augmentation of the audio data.

One dataclass for the whole data module (``make_dataloader``, ``filter_cuts``, the
samplers); the command line and YAML options are generated from its fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass
class DataConfig:
    """Batching, filtering and augmentation of the audio data."""

    # Seconds of audio per batch: the sum of the cut durations (lhotse ``max_duration``),
    # measured before speed perturbation (a 0.9 factor makes a batch up to 11 % longer).
    max_duration: float = 200.0
    min_cut_duration: float = 0.5  # filter_cuts drops cuts shorter than this (seconds)
    # filter_cuts drops cuts longer than this (<= max_duration); in training with
    # max_sample_size it judges the cropped duration (long cuts are cropped, not dropped).
    max_cut_duration: float = 20.0
    # Training crops, for classification (LID / SID: a window keeps the cut's language and
    # speaker; an ASR transcript would lose words at the edges, so ASR leaves this at 0).
    # fairseq ``max_sample_size`` with ``random_crop=True`` (audio_classification,
    # audio_pretraining): a training cut longer than this many samples (at sample_rate) is
    # replaced by a uniformly random window of exactly this length, drawn anew each epoch
    # from (seed, epoch, cut id), before the sampler (so max_duration counts cropped
    # seconds) and before speed perturbation. Validation and decoding never crop. 0: no crop.
    max_sample_size: int = 0
    # fairseq ``min_sample_size``: filter_cuts drops training cuts shorter than this many
    # samples (at sample_rate), counted as below_min_sample_size. Not applied to validation
    # or decoding. 0: none.
    min_sample_size: int = 0
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
            raise ValueError(
                f"unknown_symbols must be 'keep' or 'drop', got {self.unknown_symbols!r}"
            )
        if self.duration_tolerance < 0 or self.min_audio_samples < 0:
            raise ValueError(
                "duration_tolerance and min_audio_samples must be >= 0, got "
                f"{self.duration_tolerance}, {self.min_audio_samples}"
            )
        self._check_sample_sizes()

    def _check_sample_sizes(self) -> None:
        """max_sample_size / min_sample_size: >= 0, min <= max, and a crop fits the filters."""
        lo, hi = self.min_sample_size, self.max_sample_size
        if lo < 0 or hi < 0:
            raise ValueError(f"min_sample_size and max_sample_size must be >= 0, got {lo}, {hi}")
        if hi and lo > hi:
            raise ValueError(f"need min_sample_size <= max_sample_size, got {lo}, {hi}")
        if hi and not self.min_audio_samples <= hi <= self.max_cut_duration * self.sample_rate:
            raise ValueError(
                f"max_sample_size {hi} must lie in [min_audio_samples, max_cut_duration * "
                f"sample_rate] = [{self.min_audio_samples}, "
                f"{self.max_cut_duration * self.sample_rate:g}]: shorter crops are skipped as "
                "too_short_audio, longer ones dropped as too_long"
            )
