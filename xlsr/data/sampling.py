"""Samplers: lhotse's duration-bucketing sampler for training, a plain one for decoding.

The samplers yield ``CutSet`` mini-batches bounded by total audio duration and are
checkpointable (``state_dict()`` / ``load_state_dict()``): a restored sampler continues the
epoch where the saved one stopped, without repeating or losing cuts.

``CheckpointableSampler`` wraps a lhotse sampler for a ``DataLoader`` with workers: workers
prefetch batches, so the inner sampler is ahead of what the training loop has received;
the wrapper keeps the state after every batch and hands out the one that matches the batches
actually consumed (``mark_consumed()`` is called by ``xlsr.data.loader.AudioDataLoader``).
"""

from __future__ import annotations

import copy
import logging
from collections import deque
from itertools import islice
from typing import Any, Callable, Deque, Dict, Iterator, Optional, Tuple

import torch.distributed as dist
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler, SimpleCutSampler
from lhotse.dataset.sampling.base import CutSampler
from torch.utils.data import Sampler

from xlsr.data.config import DataConfig

logger = logging.getLogger(__name__)

#: Cuts read to estimate the duration buckets (lhotse's ``num_cuts_for_bins_estimate``).
BINS_ESTIMATE_CUTS = 10000


class _NoDataSource(Sampler):
    """Skips ``Sampler.__init__``: torch < 2.2 requires a ``data_source`` that lhotse's
    samplers do not pass (lhotse 1.33 + torch 1.13.1, the k2 lane, fails without this)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


class BucketingSampler(DynamicBucketingSampler, _NoDataSource):
    """lhotse ``DynamicBucketingSampler``, constructible on torch 1.13 too."""


class SequentialSampler(SimpleCutSampler, _NoDataSource):
    """lhotse ``SimpleCutSampler``, constructible on torch 1.13 too."""


def dist_info() -> Tuple[int, int]:
    """(world_size, rank) of the initialised process group, or (1, 0) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def make_sampler(cuts: CutSet, cfg: DataConfig, train: bool) -> CutSampler:
    """The sampler of a training or a decoding ``CutSet``.

    Training uses lhotse's ``DynamicBucketingSampler`` (cuts of similar duration batched together,
    ``cfg.max_duration`` seconds per batch, shuffled with ``cfg.seed`` when ``cfg.shuffle``);
    decoding uses ``SimpleCutSampler`` in manifest order, never dropping a batch. Under DDP each
    rank gets its share (world size and rank from ``torch.distributed``); with
    ``drop_last=False`` lhotse fills a rank's last step with copies of other cuts whose ids end
    in ``_dup<N>``, so that every rank makes the same number of steps: drop those when scoring.

    Args:
        cuts: The cuts, eager or lazy.
        cfg: Batch size (``max_duration``), ``num_buckets``, ``shuffle``, ``drop_last``, ``seed``.
        train: Bucketing training sampler when True, decoding sampler otherwise.

    Returns:
        CutSampler: yields ``CutSet`` batches; call ``set_epoch(epoch)`` before each epoch.
    """
    world_size, rank = dist_info()
    common = dict(max_duration=cfg.max_duration, world_size=world_size, rank=rank, seed=cfg.seed)
    if not train:
        return SequentialSampler(cuts, shuffle=False, drop_last=False, **common)
    num_cuts = sum(1 for _ in islice(cuts, BINS_ESTIMATE_CUTS))
    num_buckets = min(cfg.num_buckets, num_cuts)
    if num_buckets < 2:
        logger.warning("%d cut(s): too few to bucket, sampling without buckets", num_cuts)
        return SequentialSampler(cuts, shuffle=cfg.shuffle, drop_last=cfg.drop_last, **common)
    if num_buckets < cfg.num_buckets:
        logger.warning("num_buckets %d > %d cuts; using %d", cfg.num_buckets, num_cuts, num_buckets)
    return BucketingSampler(
        cuts,
        num_buckets=num_buckets,
        shuffle=cfg.shuffle,
        drop_last=cfg.drop_last,
        num_cuts_for_bins_estimate=BINS_ESTIMATE_CUTS,
        **common,
    )


class CheckpointableSampler(Sampler):
    """A lhotse sampler whose ``state_dict()`` matches the batches the loop has received.

    ``DataLoader`` workers prefetch ``prefetch_factor * num_workers`` batches, so the inner
    sampler's own state is ahead of the training loop, and resuming from it would lose the
    prefetched cuts. This wrapper records the inner state after each batch it yields and, on
    ``mark_consumed()`` (once per batch the loop receives, in order), advances to the
    matching one. Without workers both states are the same.

    Args:
        sampler: The lhotse sampler (from ``make_sampler``).
        on_epoch: Called with the epoch on ``set_epoch`` and ``load_state_dict`` (the dataset's
            and the crops' ``set_epoch``, so augmentation and crops differ per epoch).
    """

    def __init__(self, sampler: CutSampler, on_epoch: Optional[Callable[[int], None]] = None):
        self.sampler = sampler
        self.on_epoch = on_epoch
        self._pending: Deque[Dict[str, Any]] = deque()
        self._consumed_state: Optional[Dict[str, Any]] = None

    def __iter__(self) -> Iterator[CutSet]:
        self._pending.clear()
        batches = iter(self.sampler)
        self._consumed_state = copy.deepcopy(self.sampler.state_dict())
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            self._pending.append(copy.deepcopy(self.sampler.state_dict()))
            yield batch

    def mark_consumed(self) -> None:
        """Record that the loop has received the oldest batch not yet marked."""
        if self._pending:
            self._consumed_state = self._pending.popleft()

    def state_dict(self) -> Dict[str, Any]:
        """The inner sampler's state after the last consumed batch (a copy)."""
        if self._consumed_state is None:
            return self.sampler.state_dict()
        return copy.deepcopy(self._consumed_state)

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore a state from ``state_dict()``; the next iteration resumes after it.

        ``on_epoch`` runs first: lhotse restores by reading the epoch's cuts up to the saved
        batch and buffers cuts beyond it, so a lazily cropped ``CutSet`` must already crop
        with the saved epoch.
        """
        if self.on_epoch is not None:
            self.on_epoch(state_dict["epoch"])
        self.sampler.load_state_dict(copy.deepcopy(state_dict))
        self._reset()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (shuffling order); a different epoch discards restored progress."""
        self.sampler.set_epoch(epoch)
        if self._consumed_state is not None and self._consumed_state["epoch"] != epoch:
            self._reset()
        if self.on_epoch is not None:
            self.on_epoch(epoch)

    @property
    def epoch(self) -> int:
        """The inner sampler's epoch."""
        return self.sampler.epoch

    def get_report(self) -> str:
        """lhotse's summary of kept and discarded cuts and batches."""
        return self.sampler.get_report()

    def _reset(self) -> None:
        self._pending.clear()
        self._consumed_state = None
