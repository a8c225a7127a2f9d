"""EER and minDCF of speaker verification trials, against a direct count per threshold."""

import numpy as np
import pytest

from xlsr.scoring.verification import eer, error_rates, min_dcf


def brute_force(scores, target):
    """(P_miss, P_fa) for accept-if-score >= each distinct score, then nothing accepted."""
    scores, target = np.asarray(scores), np.asarray(target, dtype=bool)
    out = []
    for thr in [*np.unique(scores), np.inf]:
        accept = scores >= thr
        out.append(((~accept & target).sum() / target.sum(), (accept & ~target).sum() / (~target).sum()))  # fmt: skip
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
