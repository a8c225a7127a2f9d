"""Training crops: fairseq's ``max_sample_size`` with ``random_crop`` on lhotse cuts.

    crop = RandomCrop(max_samples=48000, sample_rate=16000, seed=42)
    crop.set_epoch(epoch)
    cropped = crop.apply(cuts)   # lazy: each cut longer than 3 s -> a random 3 s window

The crop happens at the cut level, before the sampler, so batches are formed from the
cropped durations (``max_duration`` counts the seconds actually fed). A cut keeps its id and
its supervisions (language and speaker labels hold for any window of the cut, so this is for
classification; a cropped ASR cut would keep the whole transcript of partly cut words).

Invariant: the window of a cut is a function of (seed, epoch, cut id) only, drawn anew each
epoch, and its length is exactly ``max_samples`` at ``sample_rate`` (cuts at another rate
get the same seconds on their own sample grid). So the cropped durations, and with them the
sampler's batches, do not depend on the epoch at all, and a sampler restored mid-epoch
crops the cuts it has still to yield as the uninterrupted run did, provided the epoch is
set before the sampler is restored (``CheckpointableSampler.load_state_dict`` does that).
"""

from __future__ import annotations

import random

from lhotse import CutSet
from lhotse.cut import Cut
from lhotse.lazy import LazyMapper
from lhotse.utils import compute_num_samples


class RandomCrop:
    """A uniformly random window of ``max_samples`` samples of each longer cut.

    Picklable (a plain object), so a mapped ``CutSet`` can go to ``DataLoader`` workers.

    Args:
        max_samples: Window length in samples at ``sample_rate`` (fairseq ``max_sample_size``).
        sample_rate: The rate ``max_samples`` is counted at (the encoder's).
        seed: Seed of the window offsets (with the epoch and the cut id).
    """

    def __init__(self, max_samples: int, sample_rate: int, seed: int) -> None:
        if max_samples <= 0 or sample_rate <= 0:
            raise ValueError(
                f"max_samples and sample_rate must be > 0, got {max_samples}, {sample_rate}"
            )
        self.max_samples = max_samples
        self.sample_rate = sample_rate
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; offsets depend on (seed, epoch, cut id)."""
        self.epoch = epoch

    def __call__(self, cut: Cut) -> Cut:
        """``cut`` itself when it is no longer than the window, else the window (same id)."""
        rate = cut.sampling_rate
        window = compute_num_samples(self.max_samples / self.sample_rate, rate)
        total = compute_num_samples(cut.duration, rate)
        if total <= window:
            return cut
        rng = random.Random(f"crop/{self.seed}/{self.epoch}/{cut.id}")
        start = rng.randrange(total - window + 1)
        return cut.truncate(offset=start / rate, duration=window / rate, preserve_id=True)

    def apply(self, cuts: CutSet) -> CutSet:
        """A lazy ``CutSet`` that crops each cut when it is read (with the epoch of then)."""
        return CutSet(LazyMapper(cuts, fn=self))
