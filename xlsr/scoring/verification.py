"""Speaker verification scores: equal error rate and the minimum detection cost.

A trial is (enrolment, test, is_target); its score is, e.g., the cosine of two speaker
embeddings. With ``n_t`` target and ``n_n`` non-target trials, accepting every score >= a
threshold gives a miss rate P_miss (targets below it) and a false-alarm rate P_fa
(non-targets at or above it).

- EER: the rate where P_miss and P_fa meet (linearly interpolated between the two
  thresholds where they cross), in percent.
- minDCF: min over thresholds of ``C_miss * P_miss * p_target + C_fa * P_fa * (1 - p_target)``,
  divided by ``min(C_miss * p_target, C_fa * (1 - p_target))`` (NIST SRE's normalised cost;
  p_target 0.01, C_miss = C_fa = 1 by default, as fairseq's ``--task veri`` reports it).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np


def error_rates(
    scores: Sequence[float], is_target: Sequence[bool]
) -> Tuple[np.ndarray, np.ndarray]:
    """(P_miss, P_fa) at every threshold: each distinct score, plus one above the highest.

    Returns:
        two (K,) arrays, thresholds increasing (P_miss rising from 0, P_fa falling to 0).
    """
    scores = np.asarray(scores, dtype=np.float64)
    target = np.asarray(is_target, dtype=bool)
    if scores.shape != target.shape or scores.ndim != 1:
        raise ValueError(f"{scores.shape} scores for {target.shape} labels")
    n_t, n_n = int(target.sum()), int((~target).sum())
    if n_t == 0 or n_n == 0:
        raise ValueError(f"need target and non-target trials, got {n_t} and {n_n}")
    order = np.argsort(scores, kind="mergesort")
    s, t = scores[order], target[order]
    # thresholds: each distinct score (accept >= it), then +inf (accept nothing)
    firsts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    below_t = np.r_[np.cumsum(t)[firsts - 1] * (firsts > 0), n_t]  # targets below threshold
    below_n = np.r_[np.cumsum(~t)[firsts - 1] * (firsts > 0), n_n]
    return below_t / n_t, (n_n - below_n) / n_n


def eer(scores: Sequence[float], is_target: Sequence[bool]) -> float:
    """Equal error rate in percent."""
    p_miss, p_fa = error_rates(scores, is_target)
    i = int(np.flatnonzero(p_miss >= p_fa)[0])  # first threshold where misses catch up
    if i == 0:
        return 100.0 * float(p_fa[0] + p_miss[0]) / 2
    # the crossing between thresholds i-1 and i: P_miss - P_fa goes from < 0 to >= 0
    d0, d1 = p_miss[i - 1] - p_fa[i - 1], p_miss[i] - p_fa[i]
    w = d0 / (d0 - d1)
    return 100.0 * float(p_fa[i - 1] + w * (p_fa[i] - p_fa[i - 1]))


def min_dcf(
    scores: Sequence[float],
    is_target: Sequence[bool],
    p_target: float = 0.01,
    c_miss: float = 1.0,
    c_fa: float = 1.0,
) -> float:
    """The normalised minimum detection cost (see the module docstring)."""
    if not 0.0 < p_target < 1.0:
        raise ValueError(f"p_target must be in (0, 1), got {p_target}")
    p_miss, p_fa = error_rates(scores, is_target)
    cost = c_miss * p_miss * p_target + c_fa * p_fa * (1.0 - p_target)
    return float(cost.min() / min(c_miss * p_target, c_fa * (1.0 - p_target)))
