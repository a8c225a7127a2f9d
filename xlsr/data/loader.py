"""``make_dataloader``: a ``DataLoader`` of padded raw-audio batches and its sampler.

    loader, sampler = make_dataloader(cuts, cfg, train=True, target_fn=TokenTargets(encode))
    for epoch in range(start_epoch, num_epochs):
        sampler.set_epoch(epoch)
        for batch in loader:
            ...
            checkpoint["sampler"] = sampler.state_dict()   # resumes after this batch

``AudioDataLoader`` keeps the sampler's state and the skip counts in step with the batches
the loop has received (workers prefetch); the epoch hook seeds augmentation, the training
crops (``DataConfig.max_sample_size``) and the workers from (seed, epoch) only, so a
resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Tuple

import torch
from lhotse import CutSet
from lhotse.cut import Cut
from torch.utils.data import DataLoader

from xlsr.data.audio_dataset import AudioDataset
from xlsr.data.config import DataConfig
from xlsr.data.crop import RandomCrop
from xlsr.data.sampling import CheckpointableSampler, make_sampler

logger = logging.getLogger(__name__)


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
        train: Bucketing, shuffling, crops (``cfg.max_sample_size``) and augmentation when
            True; manifest order, whole cuts, no augmentation otherwise.
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
    crop = None
    if train and cfg.max_sample_size:  # before the sampler: batches of cropped durations
        crop = RandomCrop(cfg.max_sample_size, cfg.sample_rate, cfg.seed)
        cuts = crop.apply(cuts)
    on_epoch = _EpochSetter(dataset, generator, cfg.seed, crop)
    sampler = CheckpointableSampler(make_sampler(cuts, cfg, train), on_epoch=on_epoch)
    loader = AudioDataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        num_workers=cfg.num_workers,
        persistent_workers=False,
        generator=generator,
    )
    return loader, sampler


class _EpochSetter:
    """``on_epoch`` hook: the dataset's augmentation epoch, the crops' epoch and the loader's
    generator (so worker seeds depend on (seed, epoch) only)."""

    def __init__(
        self,
        dataset: AudioDataset,
        generator: torch.Generator,
        seed: int,
        crop: Optional[RandomCrop] = None,
    ) -> None:
        self.dataset, self.generator, self.seed, self.crop = dataset, generator, seed, crop

    def __call__(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)
        if self.crop is not None:
            self.crop.set_epoch(epoch)
        self.generator.manual_seed(self.seed * 1_000_003 + epoch)
