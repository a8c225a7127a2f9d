"""Speaker-ID splits and verification trials (xlsr/data/speaker_splits.py)."""

import pytest
from lhotse import SupervisionSegment
from lhotse.testing.dummies import dummy_cut

from xlsr.data.speaker_splits import identification_splits, make_trials, write_trials


def cuts_of(speakers):
    """``speakers``: {speaker: utterance count} -> cuts with that speaker."""
    cuts, n = [], 0
    for spk, count in speakers.items():
        for _ in range(count):
            cut = dummy_cut(n, duration=1.0)
            cut.supervisions = [SupervisionSegment(f"s{n}", cut.recording_id, 0, 1.0, speaker=spk)]
            cuts.append(cut)
            n += 1
    return cuts


def test_identification_splits_hold_out_a_share_of_every_speaker():
    # Invariant: each training speaker is in train, dev and test; the splits partition the
    # cuts; the same seed gives the same split, another seed another one.
    cuts = cuts_of({"a": 20, "b": 10, "c": 3})
    splits = identification_splits(cuts, test_fraction=0.1, dev_fraction=0.05, seed=0)
    ids = [c.id for s in splits.values() for c in s]
    assert sorted(ids) == sorted(c.id for c in cuts)
    for name in ("train", "dev", "test"):
        assert {c.supervisions[0].speaker for c in splits[name]} == {"a", "b", "c"}
    assert [len(splits["test"]), len(splits["dev"])] == [2 + 1 + 1, 1 + 1 + 1]
    again = identification_splits(cuts, 0.1, 0.05, seed=0)
    assert [c.id for c in again["test"]] == [c.id for c in splits["test"]]
    other = identification_splits(cuts, 0.1, 0.05, seed=1)
    assert [c.id for c in other["test"]] != [c.id for c in splits["test"]]
    with pytest.raises(ValueError, match="bad fractions"):
        identification_splits(cuts, 0.6, 0.5)


def test_trials_pair_same_and_other_speakers_once(tmp_path):
    # Invariant: a target trial pairs two utterances of one speaker, a non-target two of
    # different speakers; no pair twice, never an utterance with itself.
    cuts = cuts_of({"a": 6, "b": 6, "c": 6})
    spk = {c.id: c.supervisions[0].speaker for c in cuts}
    trials = make_trials(cuts, targets_per_utt=3, nontargets_per_utt=3, seed=0)
    assert all((spk[a] == spk[b]) == bool(t) for t, a, b in trials)
    pairs = [(a, b) for _, a, b in trials]
    assert len(set(pairs)) == len(pairs) and all(a < b for a, b in pairs)
    n_target = sum(t for t, _, _ in trials)
    assert n_target >= 9 and len(trials) - n_target >= 9
    write_trials(trials, tmp_path / "trials.txt")
    first = (tmp_path / "trials.txt").read_text().splitlines()[0].split()
    assert first[0] in ("0", "1") and len(first) == 3
    with pytest.raises(ValueError, match="at least 2 speakers"):
        make_trials(cuts_of({"a": 4}))
