"""EER and minDCF of speaker verification trials, against a direct count per threshold; the
trials file, the trial scores and the result files."""

import json

import numpy as np
import pytest

from xlsr.scoring.verification import (
    eer,
    error_rates,
    min_dcf,
    read_trials,
    unit_mean,
    write_verification_results,
)


def brute_force(scores, target):
    """(P_miss, P_fa) for accept-if-score >= each distinct score, then nothing accepted."""
    scores, target = np.asarray(scores), np.asarray(target, dtype=bool)
    out = []
    for thr in [*np.unique(scores), np.inf]:
        accept = scores >= thr
        p_miss = (~accept & target).sum() / target.sum()
        out.append((p_miss, (accept & ~target).sum() / (~target).sum()))
    return np.array(out).T


def test_error_rates_equal_a_direct_count():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=200), 1)  # ties on purpose
    target = rng.random(200) < 0.3
    p_miss, p_fa = error_rates(scores, target)
    np.testing.assert_allclose(np.stack([p_miss, p_fa]), brute_force(scores, target))


def test_eer_and_min_dcf_on_constructed_trials():
    # interleaved targets 1..4 and non-targets 0.5..3.5: misses and false alarms meet at 50 %;
    # the cheapest threshold at p_target 0.01 accepts only the best target: cost 0.75
    scores = [1, 2, 3, 4, 0.5, 1.5, 2.5, 3.5]
    target = [True] * 4 + [False] * 4
    assert eer(scores, target) == pytest.approx(50.0)
    assert min_dcf(scores, target) == pytest.approx(0.75)
    assert eer([3, 4, 1, 2], [True, True, False, False]) == 0.0  # separable
    assert min_dcf([3, 4, 1, 2], [True, True, False, False]) == 0.0


def test_eer_of_two_shifted_gaussians_is_near_theory():
    # N(1, 1) targets vs N(-1, 1) non-targets: EER = Phi(-1) = 15.87 %
    rng = np.random.default_rng(1)
    scores = np.r_[rng.normal(1, 1, 20000), rng.normal(-1, 1, 20000)]
    target = np.r_[np.ones(20000, bool), np.zeros(20000, bool)]
    assert eer(scores, target) == pytest.approx(15.87, abs=0.5)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="target and non-target"):
        eer([1, 2], [True, True])
    with pytest.raises(ValueError, match="p_target"):
        min_dcf([1, 2], [True, False], p_target=0)


def test_trials_file_layouts_and_errors(tmp_path):
    # Invariant: VoxCeleb's '<1|0> enrol test', the words target/nontarget and Kaldi's
    # 'enrol test target|nontarget' give the same trials; comments and blank lines are
    # skipped; a malformed line or an id outside the test set names the file and line.
    path = tmp_path / "trials.txt"
    path.write_text("# enrol test\n1 a b\n\n0 a c\ntarget b c\nc a nontarget\n")
    trials = read_trials(path, known={"a", "b", "c"})
    assert [(t.target, t.enrol, t.test) for t in trials] == [
        (True, "a", "b"),
        (False, "a", "c"),
        (True, "b", "c"),
        (False, "c", "a"),
    ]
    assert trials[1].where == f"{path}:4"
    with pytest.raises(ValueError, match=rf"{path}:4: cut id 'c' is not in the test set"):
        read_trials(path, known={"a", "b"})
    path.write_text("1 a b\n2 a b\n")
    with pytest.raises(ValueError, match=rf"{path}:2: a trial is"):
        read_trials(path)
    path.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no trials"):
        read_trials(path)


def test_unit_mean_dot_is_the_mean_pairwise_cosine():
    # Invariant: <unit_mean(A), unit_mean(B)> equals the mean of the cosine matrix of the
    # views of A and B (fairseq's mean_latent_sim), also with a zero view (cosine 0).
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(3, 8))
    b[1] = 0.0
    norms_a, norms_b = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cosines = (a @ b.T) / np.maximum(np.outer(norms_a, norms_b), 1e-300)  # 0 for the zero view
    direct = cosines.mean()
    assert unit_mean(a) @ unit_mean(b) == pytest.approx(direct)
    assert unit_mean(a[:1]) @ unit_mean(a[:1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(views, dim\)"):
        unit_mean(a[0])


def _items(ids, skipped=()):
    """Result items of verify: the speaker is the id's first letter."""
    items = [{"id": u, "ref": u[0], "hyp": "", "duration": 1.0} for u in ids]
    return [dict(it, skipped="bad_audio") if it["id"] in skipped else it for it in items]


def test_verification_results_count_every_trial(tmp_path):
    # Invariant: every trial has a line in scores-<set>.txt (nan where an utterance was not
    # decoded); EER / minDCF are those of the scored trials; trials of a skipped utterance
    # are counted with its reason; every utterance has a hyps row.
    ids = ["a1", "a2", "b1", "b2", "c1"]
    rng = np.random.default_rng(5)
    vectors = {u: unit_mean(rng.normal(size=(2, 4))) for u in ids}
    del vectors["c1"]  # skipped
    path = tmp_path / "trials.txt"
    lines = ["1 a1 a2", "1 b1 b2", "0 a1 b1", "0 a2 b2", "0 a1 c1", "1 c1 c1"]
    path.write_text("\n".join(lines) + "\n")
    trials = read_trials(path)
    items = _items(ids, skipped={"c1"})
    score = write_verification_results(tmp_path, "v", items, trials, vectors, 0.05)
    expect = [float(vectors[t.enrol] @ vectors[t.test]) for t in trials[:4]]
    assert score["eer"] == pytest.approx(eer(expect, [True, True, False, False]))
    assert score["min_dcf"] == pytest.approx(min_dcf(expect, [True, True, False, False], 0.05))
    assert (score["trials"], score["scored_trials"]) == (6, 4)
    assert (score["target_trials"], score["nontarget_trials"]) == (3, 3)
    assert score["skipped_trials"] == {
        "count": 2,
        "reasons": {"bad_audio": 2},
        "examples": ["a1 c1", "c1 c1"],
    }
    assert score["utts"] == 5 and score["skipped"]["count"] == 1
    written = [x.split() for x in (tmp_path / "scores-v.txt").read_text().splitlines()]
    assert [w[:3] for w in written[:2]] == [["a1", "a2", "target"], ["b1", "b2", "target"]]
    assert written[2][:3] == ["a1", "b1", "nontarget"]
    np.testing.assert_allclose([float(w[3]) for w in written[:4]], expect, atol=1e-6)
    assert [w[3] for w in written[4:]] == ["nan", "nan"]
    assert json.loads((tmp_path / "score-v.json").read_text())["scored_trials"] == 4
    rows = [json.loads(x) for x in (tmp_path / "hyps-v.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == sorted(ids) and rows[-1]["skipped"] == "bad_audio"


def test_verification_without_both_kinds_has_no_eer(tmp_path):
    path = tmp_path / "trials.txt"
    path.write_text("1 a1 a2\n0 a1 b1\n")
    vectors = {u: np.ones(2) for u in ("a1", "a2")}  # b1 skipped: no non-target trial left
    score = write_verification_results(
        tmp_path, "v", _items(["a1", "a2", "b1"], {"b1"}), read_trials(path), vectors
    )
    assert score["eer"] is None and score["min_dcf"] is None and score["scored_trials"] == 1
    with pytest.raises(ValueError, match=r"trials.txt:2: cut id 'b1' is not in the test set"):
        write_verification_results(tmp_path, "v", _items(["a1", "a2"]), read_trials(path), vectors)
