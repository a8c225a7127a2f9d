"""The embedded numbers corpus: audio, splits, speakers, held-out numbers, determinism."""

import hashlib
import json
from collections import Counter

import numpy as np
import pytest

from xlsr.data.numbers import (
    LANGUAGES,
    NumbersConfig,
    heldout_numbers,
    make_speakers,
    normalize_text,
    plan_utterances,
    prepare_numbers,
    read_metadata,
    synthesize_numbers,
)

pytest.importorskip("espeakng_loader", reason="espeakng-loader is not installed")
SMALL = dict(num_utterances=120, max_number=999)
#: sha256 of the random draws of plan_utterances(NumbersConfig()) (ids, splits, speakers and
#: their voices, numbers): the default (ASR) corpus as made before min_numbers_per_utterance.
DEFAULT_DRAWS_SHA256 = "8577af28bf310692d0eafd6431fdf9c903ef18ba18dc0f11c3a4b2fe9072db0b"
DEFAULT_FINGERPRINT = "864ea7563a1cb09a"  # NumbersConfig().fingerprint() of that corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("numbers")
    synthesize_numbers(root / "corpus", NumbersConfig(**SMALL), progress=False)
    return root


def test_every_utterance_decodes_with_its_duration(corpus):
    import soundfile as sf

    meta = read_metadata(corpus / "corpus")
    assert len(meta) == 120
    for u in meta:
        audio, rate = sf.read(str(corpus / "corpus" / u["audio"]), dtype="int16")
        assert rate == 16000 and audio.ndim == 1
        assert len(audio) == u["num_samples"] and abs(len(audio) / 16000 - u["duration"]) < 1e-3
        assert 0.3 < u["duration"] < 15 and np.abs(audio).max() > 1000  # real speech, not silence
        assert u["text"] == normalize_text(u["text"]) and u["text"]


def test_languages_splits_speakers_and_heldout_numbers(corpus):
    meta = read_metadata(corpus / "corpus")
    assert {u["lang"] for u in meta} == set(LANGUAGES)
    assert len(LANGUAGES) >= 10
    by_split = {s: [u for u in meta if u["split"] == s] for s in ("train", "dev", "test")}
    assert [len(v) for v in by_split.values()] == [100, 10, 10]
    train_spk = {u["speaker"] for u in by_split["train"]}
    for split in ("dev", "test"):  # evaluation speakers are never seen in training
        assert not train_spk & {u["speaker"] for u in by_split[split]}
    held = heldout_numbers(NumbersConfig(**SMALL))
    cardinals = lambda us: {n for u in us for n, k in u["items"] if k == "cardinal"}  # noqa: E731
    assert not any(held[n] for n in cardinals(by_split["train"]))
    assert any(held[n] for n in cardinals(by_split["test"] + by_split["dev"]))
    english = [u for u in meta if u["lang"] == "en"]
    assert all(set(u["translations"]) == set(LANGUAGES) for u in english)  # En -> X pairs
    assert all(u["translation"] for u in meta)


def test_manifests_and_kaldi_dirs(corpus):
    from lhotse import load_manifest

    prepare_numbers(corpus / "corpus", corpus / "manifests")
    recs = load_manifest(corpus / "manifests" / "numbers_recordings_test.jsonl.gz")
    sups = load_manifest(corpus / "manifests" / "numbers_supervisions_test.jsonl.gz")
    assert len(recs) == len(sups) == 10
    sup = next(iter(sups))
    assert sup.language in LANGUAGES and sup.speaker and sup.custom["translation"]
    assert recs[sup.recording_id].load_audio().shape[1] == recs[sup.recording_id].num_samples
    kaldi = corpus / "manifests" / "kaldi" / "test"
    text = dict(line.split(" ", 1) for line in (kaldi / "text").read_text().splitlines())
    assert text[sup.id] == sup.text
    utt2spk = dict(line.split() for line in (kaldi / "utt2spk").read_text().splitlines())
    assert utt2spk[sup.id] == sup.speaker and (kaldi / "spk2utt").exists()


def test_same_seed_same_corpus_and_resume_skips(tmp_path, corpus):
    import soundfile as sf

    cfg = NumbersConfig(languages=["en", "de"], num_utterances=20, max_number=99, seed=3)
    a = synthesize_numbers(tmp_path / "a", cfg, progress=False)
    b = synthesize_numbers(tmp_path / "b", cfg, progress=False)
    assert a.read_text() == b.read_text()
    for u in read_metadata(tmp_path / "a"):
        xa, _ = sf.read(str(tmp_path / "a" / u["audio"]), dtype="int16")
        xb, _ = sf.read(str(tmp_path / "b" / u["audio"]), dtype="int16")
        np.testing.assert_array_equal(xa, xb)
    other = NumbersConfig(languages=["en", "de"], num_utterances=20, max_number=99, seed=4)
    texts = [json.loads(line)["text"] for line in a.read_text().splitlines()]
    assert texts != [u["text"] for u in plan_utterances(other)]  # another seed, another corpus
    mtime = a.stat().st_mtime_ns  # a complete corpus of the same config is not redone
    synthesize_numbers(tmp_path / "a", cfg, progress=False)
    assert a.stat().st_mtime_ns == mtime


def draws_hash(plan):
    keys = ("id", "split", "lang", "speaker", "voice", "rate", "pitch", "items")
    blob = json.dumps([{k: u[k] for k in keys} for u in plan], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def test_default_corpus_unchanged():
    # Invariant: the defaults draw the very corpus they drew before the options of the
    # number count existed (same rng draws, so the same audio), and keep its fingerprint, so
    # a finished corpus is not synthesised again. The texts follow from the draws (num2words).
    assert draws_hash(plan_utterances(NumbersConfig())) == DEFAULT_DRAWS_SHA256
    assert NumbersConfig().fingerprint() == DEFAULT_FINGERPRINT
    assert NumbersConfig(min_numbers_per_utterance=2).fingerprint() != DEFAULT_FINGERPRINT


def test_numbers_per_utterance_range():
    # Invariant: every utterance speaks min..max numbers, each count of the range occurs,
    # and a range with min > max or min < 1 is refused naming both values.
    cfg = NumbersConfig(
        languages=["en", "de"],
        num_utterances=200,
        min_numbers_per_utterance=3,
        max_numbers_per_utterance=6,
    )
    plan = plan_utterances(cfg)
    assert {len(u["items"]) for u in plan} == {3, 4, 5, 6}
    assert all(len(u["text"].split()) >= 3 for u in plan)
    for lo, hi in ((3, 2), (0, 2)):
        with pytest.raises(ValueError, match=f"got {lo}, {hi}"):
            NumbersConfig(min_numbers_per_utterance=lo, max_numbers_per_utterance=hi)


def test_eval_speakers_per_language():
    # Invariant: each language has speakers_per_language - 2k train speakers and k dev and k
    # test speakers, all distinct, with voice variants that train never uses (up to 12
    # speakers); the plan spreads dev / test utterances over those k speakers only.
    cfg = NumbersConfig(
        languages=["en", "de"],
        num_utterances=400,
        speakers_per_language=10,
        eval_speakers_per_language=3,
    )
    for lang in cfg.languages:
        speakers = make_speakers(cfg, lang)
        splits = Counter(s.split for s in speakers)
        assert splits == Counter(train=4, dev=3, test=3)
        assert len({s.id for s in speakers}) == 10
        train_voices = {s.voice for s in speakers if s.split == "train"}
        assert not train_voices & {s.voice for s in speakers if s.split != "train"}
    by_split = {}
    for u in plan_utterances(cfg):
        by_split.setdefault(u["split"], set()).add(u["speaker"])
    assert [len(by_split[s]) for s in ("train", "dev", "test")] == [8, 6, 6]
    with pytest.raises(ValueError, match="got 6, 3"):
        NumbersConfig(speakers_per_language=6, eval_speakers_per_language=3)
