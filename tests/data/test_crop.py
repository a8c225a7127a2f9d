"""Training crops (``max_sample_size``) and the ``min_sample_size`` filter."""

import logging
from collections import Counter

import numpy as np
import pytest
from lhotse import CutSet

from xlsr.data.config import DataConfig
from xlsr.data.crop import RandomCrop
from xlsr.data.filters import filter_cuts
from xlsr.data.loader import make_dataloader
from xlsr.testing.corpus import make_tiny_cutset

pytestmark = [
    pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:audioread.*"),  # lhotse's fallback
]

RATE = 16000
CROP = 12345  # samples: 0.7715625 s, not a round number of anything
DURATIONS = [0.5, 0.6, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0] * 2


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return make_tiny_cutset(tmp_path_factory.mktemp("crop"), n=len(DURATIONS), durations=DURATIONS)


def config(**kw):
    base = dict(
        max_duration=3.0,
        min_cut_duration=0.2,
        max_cut_duration=3.0,
        num_buckets=2,
        max_sample_size=CROP,
    )
    return DataConfig(**{**base, **kw})


def epoch_batches(cuts, cfg, epoch, train=True):
    """[(cut id, start, samples, language, speaker)] per batch of one epoch."""
    loader, sampler = make_dataloader(cuts, cfg, train=train, require_text=False)
    sampler.set_epoch(epoch)
    return [rows(b) for b in loader]


def rows(batch):
    sups = batch["supervisions"]
    return [
        (cid, round(c.start, 6), int(n), lang, spk)
        for cid, c, n, lang, spk in zip(
            batch["cut_ids"], batch["cuts"], batch["lengths"], sups["languages"], sups["speakers"]
        )
    ]


@pytest.mark.parametrize("rate", [16000, 8000])
def test_crop_is_a_window_of_exactly_max_sample_size(tmp_path, rate):
    # Invariant: a cut longer than max_sample_size becomes a window of exactly that many
    # samples at sample_rate (cuts at 8 kHz too, after resampling), the very audio of the
    # cut at the drawn offset, with the cut's id and labels; shorter cuts are untouched.
    src = make_tiny_cutset(tmp_path, n=3, durations=[0.5, 2.0, 3.0], sample_rate=rate)
    crop = RandomCrop(CROP if rate == RATE else 2 * 6000, RATE, seed=7)
    short, *long = list(src)
    assert crop(short) is short
    for cut in long:
        window = crop(cut)
        assert window.id == cut.id and window.num_samples == round(crop.max_samples * rate / RATE)
        offset = round(window.start * rate)
        np.testing.assert_array_equal(
            window.load_audio(), cut.load_audio()[:, offset : offset + window.num_samples]
        )
        assert window.supervisions[0].language == cut.supervisions[0].language
        assert window.supervisions[0].speaker == cut.supervisions[0].speaker
    cfg = config(max_sample_size=crop.max_samples, max_duration=10.0, max_cut_duration=10.0)
    lengths = {row[0]: row[2] for batch in epoch_batches(src, cfg, epoch=0) for row in batch}
    assert lengths[long[0].id] == lengths[long[1].id] == crop.max_samples
    assert lengths[short.id] == round(0.5 * RATE)


def test_offsets_reproducible_per_seed_and_epoch(cuts):
    # Invariant: the window of a cut is a function of (seed, epoch, cut id): the same for
    # the same triple, drawn anew for another epoch or seed.
    long = [c for c in cuts if c.duration > CROP / RATE]

    def starts(seed, epoch):
        crop = RandomCrop(CROP, RATE, seed)
        crop.set_epoch(epoch)
        return [crop(c).start for c in long]

    assert starts(1, 0) == starts(1, 0)
    assert starts(1, 0) != starts(1, 1)
    assert starts(1, 0) != starts(2, 0)
    per_cut = list(zip(*(starts(1, e) for e in range(5))))
    assert all(len(set(s)) > 1 for s in per_cut)  # every long cut moves between epochs
    assert all(0 <= s <= c.duration - CROP / RATE + 1e-9 for c, s in zip(long, starts(1, 3)))


def test_loader_crops_per_epoch_and_batches_respect_max_duration(cuts):
    # Invariant: training batches are formed from the cropped durations: each holds at most
    # max_duration seconds of fed audio, an epoch holds every cut once (also those longer
    # than max_cut_duration: cropped, not dropped), the same epoch repeats exactly and
    # another epoch moves the windows.
    cfg = config()
    e0, again, e1 = (epoch_batches(cuts, cfg, e) for e in (0, 0, 1))
    assert e0 == again and e0 != e1
    for batch in e0:
        assert sum(n for _, _, n, _, _ in batch) / RATE <= cfg.max_duration + 1e-9
    flat = [row for batch in e0 for row in batch]
    assert sorted(r[0] for r in flat) == sorted(cuts.ids)
    assert max(r[2] for r in flat) == CROP


def test_validation_and_decoding_never_crop(cuts):
    # Invariant: with train=False the cuts come whole, in manifest order.
    cfg = config(max_duration=6.0, max_cut_duration=6.0)
    flat = [row for batch in epoch_batches(cuts, cfg, 0, train=False) for row in batch]
    assert [r[0] for r in flat] == list(cuts.ids)
    assert [r[2] for r in flat] == [c.num_samples for c in cuts]


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("k", [1, 3])
def test_resumed_epoch_crops_the_same_windows(cuts, num_workers, k):
    # Invariant: k batches, a saved sampler state, a fresh loader restored from it (its crop
    # starting at epoch 0, as in a new process): the k batches plus the rest are the
    # uninterrupted epoch, the same cuts with the same windows, in the same order.
    cfg = config(num_workers=num_workers)
    full = epoch_batches(cuts, cfg, epoch=2)
    loader, sampler = make_dataloader(cuts, cfg, train=True, require_text=False)
    sampler.set_epoch(2)
    first = []
    for batch in loader:
        first.append(rows(batch))
        if len(first) == k:
            break
    state = sampler.state_dict()
    loader2, sampler2 = make_dataloader(cuts, cfg, train=True, require_text=False)
    sampler2.load_state_dict(state)
    sampler2.set_epoch(2)  # what the trainer does after loading; must keep the progress
    rest = [rows(b) for b in loader2]
    assert first + rest == full


def test_min_sample_size_drops_and_counts_training_cuts_only(cuts, caplog):
    # Invariant: training drops cuts shorter than min_sample_size samples, counted as
    # below_min_sample_size and named in the summary; validation keeps them.
    cfg = config(min_sample_size=RATE, max_sample_size=0)  # 1 s
    short = sum(1 for d in DURATIONS if d < 1.0)
    too_long = sum(1 for d in DURATIONS if d > cfg.max_cut_duration)
    with caplog.at_level(logging.INFO, logger="xlsr.data.filters"):
        kept, dropped = filter_cuts(cuts, cfg, train=True)
    assert dropped == Counter(below_min_sample_size=short, too_long=too_long)
    assert all(c.num_samples >= RATE for c in kept) and len(kept) == len(cuts) - short - too_long
    assert any(f"below_min_sample_size={short}" in r.getMessage() for r in caplog.records)
    kept, dropped = filter_cuts(cuts, cfg, train=False)
    assert dropped == Counter(too_long=too_long) and len(kept) == len(cuts) - too_long


def test_filter_judges_training_length_by_the_crop(cuts, caplog):
    # Invariant: with max_sample_size, a training cut longer than max_cut_duration is kept
    # (it will be cropped), while validation still drops it; a CTC filter warns that crops
    # keep whole transcripts.
    cfg = config()
    too_long = sum(1 for d in DURATIONS if d > cfg.max_cut_duration)
    assert too_long and filter_cuts(cuts, cfg, train=True)[1] == Counter()
    assert filter_cuts(cuts, cfg, train=False)[1] == Counter(too_long=too_long)
    with caplog.at_level(logging.WARNING, logger="xlsr.data.filters"):
        filter_cuts(cuts, cfg, encode=lambda text: [1], train=True)
    assert any("classification" in r.getMessage() for r in caplog.records)


def test_config_rejects_bad_sample_sizes():
    # Invariant: inconsistent sizes fail at construction, naming the values.
    with pytest.raises(ValueError, match="min_sample_size <= max_sample_size"):
        DataConfig(min_sample_size=20000, max_sample_size=16000)
    with pytest.raises(ValueError, match=">= 0"):
        DataConfig(max_sample_size=-1)
    with pytest.raises(ValueError, match="max_sample_size 100 must lie"):
        DataConfig(max_sample_size=100)  # below the 400-sample receptive field
    with pytest.raises(ValueError, match="max_sample_size 400000 must lie"):
        DataConfig(max_sample_size=400_000)  # 25 s > max_cut_duration 20 s
    assert DataConfig(max_sample_size=320_000, min_sample_size=8000).max_sample_size == 320_000


def test_crop_is_picklable_with_its_epoch():
    # Invariant: a RandomCrop survives pickling (DataLoader workers) with its epoch.
    import pickle

    crop = RandomCrop(CROP, RATE, seed=3)
    crop.set_epoch(4)
    copy = pickle.loads(pickle.dumps(crop))
    assert (copy.max_samples, copy.sample_rate, copy.seed, copy.epoch) == (CROP, RATE, 3, 4)
    with pytest.raises(ValueError, match="max_samples"):
        RandomCrop(0, RATE, seed=0)
    assert isinstance(crop.apply(CutSet.from_cuts([])), CutSet)
