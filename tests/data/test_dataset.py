"""The data module: samplers, padded raw-audio batches, skips, filters, augmentation."""

import importlib
import logging
import math
from collections import Counter

import pytest
import torch
from lhotse import CutSet, load_manifest_lazy
from lhotse.utils import fastcopy

from xlsr.data import dataset
from xlsr.data.audio_dataset import AudioDataset, TokenTargets
from xlsr.data.config import DataConfig
from xlsr.data.filters import ctc_min_frames, filter_cuts, validate_cuts
from xlsr.data.frames import conv_frames_fn
from xlsr.data.loader import make_dataloader
from xlsr.data.noise import NoiseMixer
from xlsr.data.sampling import make_sampler
from xlsr.testing.corpus import make_tiny_cutset, make_truncated_cut, make_truncated_wav_cut, tone

pytestmark = [
    pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:audioread.*"),  # lhotse's fallback
]

DURATIONS = [0.5, 1.0, 1.5, 2.0] * 3
DATASET_LOGGER = "xlsr.data.audio_dataset"  # skips, resampling
FILTERS_LOGGER = "xlsr.data.filters"
# a truncated FLAC: newer libsndfile fails to decode it, older ones decode it short
TRUNCATED = ("unreadable_audio", "duration_mismatch")


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("corpus")


@pytest.fixture(scope="module")
def cuts(corpus_dir):
    return make_tiny_cutset(corpus_dir / "clean", n=len(DURATIONS), durations=DURATIONS)


@pytest.fixture(scope="module")
def bad_cut(corpus_dir):
    return make_truncated_cut(corpus_dir / "bad")


def config(**kw):
    base = dict(max_duration=3.0, min_cut_duration=0.2, max_cut_duration=3.0, num_buckets=2)
    return DataConfig(**{**base, **kw})


def ids_of(batches):
    return [c.id for b in batches for c in b]


def with_text(cut, text):
    return fastcopy(cut, supervisions=[fastcopy(s, text=text) for s in cut.supervisions])


def char_codes(text):
    return [ord(ch) for ch in text]


# ----------------------------------------------------------------------------- samplers


@pytest.mark.parametrize("train", [True, False])
def test_batches_respect_max_duration(cuts, train):
    # Invariant: every batch holds at most max_duration seconds, and one epoch yields every
    # cut exactly once (drop_last=False).
    cfg = config()
    batches = list(make_sampler(cuts, cfg, train=train))
    assert all(sum(c.duration for c in b) <= cfg.max_duration + 1e-6 for b in batches)
    assert sorted(ids_of(batches)) == sorted(cuts.ids)
    assert len(batches) > 1


def test_decode_sampler_keeps_manifest_order(cuts):
    # Invariant: decoding batches come in manifest order, whatever cfg.shuffle says.
    assert ids_of(make_sampler(cuts, config(shuffle=True), train=False)) == list(cuts.ids)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_resume_mid_epoch_exactly_once(cuts, train, k):
    # Invariant: k batches, a saved state, a fresh sampler restored from it: the k batches
    # plus the rest hold each cut of the epoch exactly once, in the uninterrupted order.
    cfg = config()
    full = make_sampler(cuts, cfg, train)
    full.set_epoch(1)
    epoch = ids_of(full)
    sampler = make_sampler(cuts, cfg, train)
    sampler.set_epoch(1)
    it = iter(sampler)
    first = ids_of(next(it) for _ in range(k))
    state = sampler.state_dict()
    fresh = make_sampler(cuts, cfg, train)
    fresh.load_state_dict(state)
    fresh.set_epoch(1)  # what a training loop does after loading; must keep the progress
    rest = ids_of(fresh)
    assert first + rest == epoch
    assert Counter(first + rest) == Counter(cuts.ids)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_loader_resume_despite_prefetch(cuts, num_workers):
    # Invariant: with DataLoader workers prefetching, sampler.state_dict() still matches the
    # batches the loop received: resuming gives the remaining cuts once each.
    cfg = config(num_workers=num_workers)
    loader, sampler = make_dataloader(cuts, cfg, train=True)
    epoch = [cid for b in loader for cid in b["cut_ids"]]
    loader, sampler = make_dataloader(cuts, cfg, train=True)
    first = []
    for i, batch in enumerate(loader):
        first += batch["cut_ids"]
        if i == 1:
            break
    state = sampler.state_dict()
    if num_workers:  # the workers have prefetched: lhotse's own state is ahead of the loop
        assert sampler.sampler.state_dict() != state
    loader2, sampler2 = make_dataloader(cuts, cfg, train=True)
    sampler2.load_state_dict(state)
    rest = [cid for b in loader2 for cid in b["cut_ids"]]
    assert first + rest == epoch
    assert Counter(first + rest) == Counter(cuts.ids)


@pytest.mark.parametrize("train", [True, False])
def test_ddp_ranks_split_the_cuts(cuts, monkeypatch, train):
    # Invariant: under DDP (world size 2) the ranks' batches are disjoint and together hold
    # every cut; rank and world size come from torch.distributed. lhotse may fill the last
    # step of a rank with copies whose ids end in "_dup<N>" (equal step counts per rank).
    seen = []
    for rank in range(2):
        monkeypatch.setattr("xlsr.data.sampling.dist_info", lambda r=rank: (2, r))
        sampler = make_sampler(cuts, config(), train)
        assert (sampler.world_size, sampler.rank) == (2, rank)
        ids = ids_of(sampler)
        assert {i.split("_dup")[0] for i in ids} <= set(cuts.ids)
        seen.append([i for i in ids if "_dup" not in i])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == sorted(cuts.ids)


# ----------------------------------------------------------------------------- batches


def test_padding_and_lengths(cuts):
    # Invariant: lengths are each cut's sample count, the waveform rows hold the cut's audio
    # followed by zeros, and the supervision fields come from the cut's supervision.
    subset = cuts.subset(first=4)
    batch = AudioDataset(target_fn=TokenTargets(char_codes))[subset]
    wav, lengths = batch["waveforms"], batch["lengths"]
    assert wav.dtype == torch.float32 and lengths.dtype == torch.int64
    assert lengths.tolist() == [c.num_samples for c in subset]
    assert wav.shape == (4, max(lengths.tolist()))
    for i, cut in enumerate(subset):
        n = int(lengths[i])
        torch.testing.assert_close(wav[i, :n], torch.from_numpy(cut.load_audio()[0]))
        assert wav[i, n:].abs().sum() == 0
    sups = batch["supervisions"]
    assert sups["texts"] == [c.supervisions[0].text for c in subset]
    assert sups["languages"] == [c.supervisions[0].language for c in subset]
    assert sups["speakers"] == [c.supervisions[0].speaker for c in subset]
    assert sups["translations"] == [c.supervisions[0].custom["translation"] for c in subset]
    assert sups["durations"].tolist() == pytest.approx([c.duration for c in subset])
    assert sups["targets"] == [char_codes(t) for t in sups["texts"]]
    assert sups["target_lengths"].tolist() == [len(t) for t in sups["texts"]]
    assert batch["cut_ids"] == list(subset.ids) and batch["skipped"] == []


def test_class_targets_become_a_tensor(cuts):
    # Invariant: int targets (LID / SID class ids) are collated into a (B,) int64 tensor.
    langs = {"de": 0, "en": 1, "fr": 2}
    ds = AudioDataset(target_fn=lambda c: langs[c.supervisions[0].language])
    batch = ds[cuts.subset(first=3)]
    expected = [langs[c.supervisions[0].language] for c in cuts.subset(first=3)]
    assert batch["supervisions"]["targets"].tolist() == expected


def test_corrupt_file_skipped_with_warning(cuts, bad_cut, caplog):
    # Invariant: a truncated FLAC costs its cut only: a warning names the cut and the
    # reason, the skip is counted, the batch keeps the other cuts.
    good = list(cuts.subset(first=2))
    ds = AudioDataset()
    with caplog.at_level(logging.WARNING, logger=DATASET_LOGGER):
        batch = ds[CutSet.from_cuts([good[0], bad_cut, good[1]])]
    assert batch["cut_ids"] == [good[0].id, good[1].id]
    [(skipped_id, reason)] = batch["skipped"]
    assert skipped_id == bad_cut.id and reason in TRUNCATED
    assert ds.skipped.counts == Counter({reason: 1})
    assert ds.skipped.cut_ids == {bad_cut.id: reason}
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(bad_cut.id in m and reason in m for m in messages)


def test_empty_transcript_and_missing_supervision_skipped(cuts, caplog):
    # Invariant: empty text (when required) and no supervision are skipped and counted by
    # reason; without require_text the empty-text cut is kept.
    a, b, c = list(cuts.subset(first=3))
    batch_cuts = CutSet.from_cuts([with_text(a, "  "), fastcopy(b, supervisions=[]), c])
    ds = AudioDataset()
    with caplog.at_level(logging.WARNING, logger=DATASET_LOGGER):
        batch = ds[batch_cuts]
    assert batch["cut_ids"] == [c.id]
    assert ds.skipped.counts == Counter(empty_text=1, no_supervision=1)
    assert any(a.id in r.getMessage() and "empty_text" in r.getMessage() for r in caplog.records)
    assert AudioDataset(require_text=False)[batch_cuts]["cut_ids"] == [a.id, c.id]


def test_fully_skipped_batch_has_zero_rows(bad_cut):
    # Invariant: a batch whose every cut is skipped is returned with B = 0, not an error.
    batch = AudioDataset(target_fn=TokenTargets(char_codes))[CutSet.from_cuts([bad_cut])]
    assert batch["waveforms"].shape == (0, 0) and batch["lengths"].shape == (0,)
    assert batch["supervisions"]["target_lengths"].shape == (0,)
    assert len(batch["cuts"]) == 0 and [i for i, _ in batch["skipped"]] == [bad_cut.id]


def test_truncated_wav_counted_as_duration_mismatch(corpus_dir, cuts, caplog):
    # Invariant: a WAV that lost 0.2 s after its manifest was made is skipped and counted as
    # duration_mismatch (lhotse alone pads it back to its declared length without a word);
    # a smaller tolerance than the loss is what the default guarantees.
    short = make_truncated_wav_cut(corpus_dir / "short", missing=0.2)
    good = next(iter(cuts))
    ds = AudioDataset.from_config(config(), train=False)
    with caplog.at_level(logging.WARNING, logger=DATASET_LOGGER):
        batch = ds[CutSet.from_cuts([short, good])]
    assert batch["cut_ids"] == [good.id]
    assert batch["skipped"] == [(short.id, "duration_mismatch")]
    messages = [r.getMessage() for r in caplog.records]
    assert any(short.id in m and "duration_mismatch" in m for m in messages)
    # a tolerance above the loss restores lhotse's padding (documented behaviour)
    lenient = AudioDataset.from_config(config(duration_tolerance=0.5), train=False)
    assert lenient[CutSet.from_cuts([short])]["cut_ids"] == [short.id]


def test_audio_shorter_than_receptive_field_skipped(cuts):
    # Invariant: a 0.01 s cut (160 samples < the 400-sample receptive field of the conv
    # front-end) is skipped with its id and reason, not a batch-index error from the encoder.
    tiny = next(iter(cuts)).truncate(duration=0.01)
    batch = AudioDataset()[CutSet.from_cuts([tiny])]
    assert batch["skipped"] == [(tiny.id, "too_short_audio")] and batch["cut_ids"] == []


def test_target_error_skipped(cuts):
    # Invariant: a target_fn that raises skips the cut with reason target_error.
    def encode(text):
        raise KeyError("unknown symbol")

    ds = AudioDataset(target_fn=TokenTargets(encode))
    assert ds[cuts.subset(first=2)]["cut_ids"] == []
    assert ds.skipped.counts == Counter(target_error=2)


def test_worker_skips_reach_main_process(cuts, bad_cut):
    # Invariant: with workers, skips made in worker processes are counted in the loader's
    # dataset in this process.
    cfg = config(num_workers=2, shuffle=False)
    loader, _ = make_dataloader(CutSet.from_cuts([bad_cut, *cuts.subset(first=3)]), cfg, False)
    assert sum(len(b["cut_ids"]) for b in loader) == 3
    assert loader.dataset.skipped.total == 1 and set(loader.dataset.skipped.counts) <= set(
        TRUNCATED
    )


def test_8khz_cut_resampled_with_one_warning(corpus_dir, caplog):
    # Invariant: 8 kHz cuts come out at 16 kHz (twice the samples, same tone) and the rate
    # is named in a single warning, however many such cuts there are.
    narrow = make_tiny_cutset(corpus_dir / "8k", n=3, durations=[0.5, 1.0, 1.0], sample_rate=8000)
    ds = AudioDataset()
    with caplog.at_level(logging.WARNING, logger=DATASET_LOGGER):
        batch = ds[narrow]
        ds[narrow]
    assert batch["lengths"].tolist() == [8000, 16000, 16000]
    warnings = [r.getMessage() for r in caplog.records if "resampling" in r.getMessage()]
    assert len(warnings) == 1 and "8000" in warnings[0]
    expected = torch.from_numpy(tone(0.5, 16000, freq=200.0))
    assert torch.corrcoef(torch.stack([batch["waveforms"][0, :8000], expected]))[0, 1] > 0.99


# ----------------------------------------------------------------------------- filters


def test_conv_frames_fn_is_wav2vec2_formula():
    # Invariant: the default frame count is floor((samples - 400) / 320) + 1 (0 when short).
    samples = torch.tensor([399, 400, 719, 720, 16000, 48000])
    expected = [max(0, (s - 400) // 320 + 1) for s in samples.tolist()]
    assert conv_frames_fn()(samples).tolist() == expected


def test_ctc_min_frames_counts_repeats():
    # Invariant: CTC needs a blank between equal neighbours.
    assert ctc_min_frames([]) == 0
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 8


def test_filter_drops_durations_and_infeasible_ctc(cuts, caplog):
    # Invariant: cuts outside [min, max] duration and cuts with more CTC tokens than encoder
    # frames are dropped and counted per reason in the log; the rest are kept in order.
    first, second, *others = list(cuts)
    long_text = with_text(first, "ab" * 13)  # 0.5 s: 24 frames
    kept_text = with_text(second, "ab" * 24 + "a")  # 1.0 s: 49 frames, 49 tokens
    data = CutSet.from_cuts([long_text, kept_text, *others])
    cfg = config(min_cut_duration=0.75, max_cut_duration=1.75)
    with caplog.at_level(logging.INFO, logger=FILTERS_LOGGER):
        kept, dropped = filter_cuts(data, cfg, encode=char_codes)
    assert dropped == Counter(too_short=3, too_long=3)
    assert list(kept.ids) == [c.id for c in data if 0.75 <= c.duration <= 1.75]
    cfg = config()
    with caplog.at_level(logging.INFO, logger=FILTERS_LOGGER):
        kept, dropped = filter_cuts(data, cfg, encode=char_codes)
    assert dropped == Counter(ctc_infeasible=1)
    assert long_text.id not in kept.ids and kept_text.id in kept.ids
    assert "ctc_infeasible=1" in caplog.records[-1].getMessage()


def test_filter_keeps_a_lazy_manifest_lazy(cuts, tmp_path, caplog):
    # Invariant: a lazy manifest (too large for memory) gives a lazy result with the same
    # cuts in the same order and the same counts as the eager one.
    first, second, *others = list(cuts)
    data = CutSet.from_cuts([with_text(first, "ab" * 13), second, *others])
    data.to_file(tmp_path / "cuts.jsonl.gz")
    cfg = config(min_cut_duration=0.75, speed_perturb=(0.9, 1.0))
    eager, eager_dropped = filter_cuts(data, cfg, encode=char_codes)
    with caplog.at_level(logging.INFO, logger=FILTERS_LOGGER):
        lazy, dropped = filter_cuts(load_manifest_lazy(tmp_path / "cuts.jsonl.gz"), cfg, char_codes)
    assert lazy.is_lazy and not eager.is_lazy
    assert dropped == eager_dropped and sum(dropped.values()) > 0
    assert list(lazy.ids) == list(eager.ids) == list(lazy.ids)  # the same on a second pass
    assert f"kept {len(eager)} of {len(data)} cuts" in caplog.records[-1].getMessage()


def test_filter_counts_frames_at_fastest_speed(cuts):
    # Invariant: with speed perturbation the CTC check uses the shortest the cut can get.
    data = CutSet.from_cuts([with_text(list(cuts)[1], "ab" * 24 + "a")])  # 49 frames at 1.0x
    assert len(filter_cuts(data, config(), encode=char_codes)[0]) == 1
    sped = config(speed_perturb=(0.9, 1.0, 1.1))
    assert len(filter_cuts(data, sped, encode=char_codes)[0]) == 0
    assert len(filter_cuts(data, sped, encode=char_codes, train=False)[0]) == 1


def test_validate_cuts_reports_bad_cuts(cuts, bad_cut):
    # Invariant: good cuts pass; a cut that does not decode and one whose manifest claims
    # more audio than the file holds are reported with a reason and left out.
    good = list(cuts.subset(first=2))
    rec = good[0].recording
    rec = fastcopy(rec, num_samples=rec.num_samples + 1600, duration=rec.duration + 0.1)
    liar = fastcopy(good[0], id="liar", recording=rec, duration=rec.duration)
    kept, report = validate_cuts(CutSet.from_cuts([*good, bad_cut, liar]))
    assert list(kept.ids) == [c.id for c in good]
    assert set(report["bad"]) == {bad_cut.id, "liar"}
    assert report["bad"]["liar"].startswith("duration_mismatch")
    # soundfile versions differ: some fail to decode, some decode the first part only
    assert report["bad"][bad_cut.id].split(":")[0] in TRUNCATED
    assert report["num_cuts"] == 4 and report["num_good"] == 2


# ----------------------------------------------------------------------------- augmentation


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_scales_duration(cuts, factor):
    # Invariant: speed factor f turns d seconds into d / f (samples likewise, to a sample).
    subset = cuts.subset(first=4)
    batch = AudioDataset(speed_factors=(factor,))[subset]
    for cut, loaded, n in zip(subset, batch["cuts"], batch["lengths"].tolist()):
        assert loaded.duration == pytest.approx(cut.duration / factor, abs=1e-3)
        assert abs(n - cut.num_samples / factor) <= 1
    assert batch["cut_ids"] == list(subset.ids)


def test_noise_mixing_wired_from_config(cuts, corpus_dir):
    # Invariant: a noise manifest in the config adds noise at the configured SNR (training
    # only); decoding batches stay clean.
    noise = make_tiny_cutset(corpus_dir / "noise", n=2, durations=[0.7, 3.0], prefix="noise")
    path = corpus_dir / "noise_cuts.jsonl.gz"
    noise.to_file(path)
    cfg = config(musan_cuts=str(path), noise_prob=1.0, noise_snr=(10.0, 10.0), shuffle=False)
    subset = cuts.subset(first=4)
    clean = AudioDataset()[subset]["waveforms"]
    loader, _ = make_dataloader(subset, cfg, train=True)
    assert isinstance(loader.dataset.noise, NoiseMixer)
    for batch in loader:
        for row, cid, n in zip(batch["waveforms"], batch["cut_ids"], batch["lengths"]):
            ref = clean[list(subset.ids).index(cid), :n]
            snr = 10 * math.log10(ref.pow(2).mean() / (row[:n] - ref).pow(2).mean())
            assert snr == pytest.approx(10.0, abs=0.1)
    decode, _ = make_dataloader(subset, cfg, train=False)
    for batch in decode:
        for row, cid, n in zip(batch["waveforms"], batch["cut_ids"], batch["lengths"]):
            assert torch.equal(row[:n], clean[list(subset.ids).index(cid), :n])


def run_epoch(cuts, cfg, epoch):
    loader, sampler = make_dataloader(cuts, cfg, train=True)
    sampler.set_epoch(epoch)
    return [(b["cut_ids"], [c.id for c in b["cuts"]], b["waveforms"]) for b in loader]


def test_same_seed_same_batches(cuts, corpus_dir):
    # Invariant: same seed and epoch -> identical batches, speed factors and waveforms;
    # another epoch reshuffles and redraws the speed factors.
    cfg = config(speed_perturb=(0.9, 1.0, 1.1))
    a, b = run_epoch(cuts, cfg, 0), run_epoch(cuts, cfg, 0)
    assert [x[:2] for x in a] == [x[:2] for x in b]
    assert all(torch.equal(x[2], y[2]) for x, y in zip(a, b))
    other = run_epoch(cuts, cfg, 1)
    assert [x[1] for x in other] != [x[1] for x in a]


def test_config_rejects_bad_values():
    # Invariant: inconsistent settings fail at construction, naming the values.
    with pytest.raises(ValueError, match="max_cut_duration"):
        DataConfig(max_duration=10.0, max_cut_duration=20.0)
    with pytest.raises(ValueError, match="speed_perturb"):
        DataConfig(speed_perturb=(0.0, 1.0))
    with pytest.raises(ValueError, match="noise_prob"):
        DataConfig(noise_prob=1.5)


def test_dataset_module_reexports_the_data_api():
    # Invariant: ``xlsr.data.dataset`` keeps every name of its ``__all__`` importable (the
    # importers of before the split), each the very object its defining module holds.
    for name in dataset.__all__:
        obj = getattr(dataset, name)
        home = importlib.import_module(obj.__module__)
        assert home is not dataset and home.__name__.startswith("xlsr.data."), name
        assert getattr(home, name) is obj, name
