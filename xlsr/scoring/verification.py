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

Trials file (:func:`read_trials`): one trial per line, VoxCeleb's ``veri_test2.txt`` layout
with cut ids instead of paths::

    1 id10270-x6uYqmx31kE-00001 id10270-8jEAjG6SegY-00008
    0 id10270-x6uYqmx31kE-00001 id10300-ize_eiCFEg0-00003

``1`` (or ``target``): both utterances are of one speaker; ``0`` (or ``nontarget``): of
two. Kaldi's order ``<enrol> <test> target|nontarget`` is read too. Blank lines and lines
starting with ``#`` are ignored.

Scores (fairseq ``eval_speaker_clf_task.py --task veri --merge mean_latent_sim``): each
utterance has the embeddings of its views; a trial's score is the mean cosine similarity
over all pairs (enrolment view, test view). With :func:`unit_mean` per utterance, that mean
is one dot product: mean_ij <a_i/|a_i|, b_j/|b_j|> = <mean_i a_i/|a_i|, mean_j b_j/|b_j|>.

:func:`write_verification_results` writes, in ``out_dir``:
    scores-<set>.txt       one line per trial, in file order: ``enrol test target|nontarget
                           score`` (score ``nan`` where an utterance was not decoded)
    score-<set>.json       eer (percent), min_dcf, p_target, trials, target_trials,
                           nontarget_trials (the file's), scored_trials, skipped_trials
                           (count, reasons: the skipped utterance's reason, examples), and
                           utts / skipped / skipped_rule ("excluded") of the utterances
    hyps-<set>.jsonl       a row per utterance: id, ref (the speaker), hyp "", duration,
                           lang, skipped
A trial with an utterance that was not decoded (unreadable audio ...) is left out of EER
and minDCF and counted in ``skipped_trials``; without both target and non-target trials
left, ``eer`` and ``min_dcf`` are null.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Collection, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from xlsr.utils.io import atomic_write_text

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
TARGET_WORDS = {"1": True, "target": True, "0": False, "nontarget": False}
MAX_EXAMPLES = 10  # skipped trials listed in a score file


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


class Trial(NamedTuple):
    target: bool  # both utterances of one speaker
    enrol: str  # cut id
    test: str  # cut id
    where: str  # "<file>:<line>", for messages


def _trial(path: Pathlike, n: int, line: str) -> Trial:
    parts = line.split()
    where = f"{path}:{n}"
    if len(parts) == 3 and parts[0] in TARGET_WORDS:
        return Trial(TARGET_WORDS[parts[0]], parts[1], parts[2], where)
    if len(parts) == 3 and parts[2] in ("target", "nontarget"):
        return Trial(parts[2] == "target", parts[0], parts[1], where)
    raise ValueError(
        f"{where}: a trial is '<1|0> <enrol cut id> <test cut id>' (or '<enrol> <test> "
        f"target|nontarget'), got {line.strip()!r}"
    )


def read_trials(path: Pathlike, known: Optional[Collection[str]] = None) -> List[Trial]:
    """The trials of ``path`` (see the module docstring), in file order.

    Args:
        known: the cut ids of the test set; a trial naming another id is refused.

    Raises:
        ValueError: naming the file and line of a malformed trial or an unknown cut id, or
            the file when it has no trials.
    """
    trials = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            trial = _trial(path, n, line)
            unknown = [u for u in (trial.enrol, trial.test) if known is not None and u not in known]
            if unknown:
                raise ValueError(f"{trial.where}: cut id {unknown[0]!r} is not in the test set")
            trials.append(trial)
    if not trials:
        raise ValueError(f"{path}: no trials")
    return trials


def unit_mean(views: np.ndarray) -> np.ndarray:
    """(V, E) embeddings of an utterance's views -> (E,) the mean of their unit vectors (a
    zero vector stays zero): dot products of these are mean pairwise cosines."""
    views = np.asarray(views, dtype=np.float64)
    if views.ndim != 2:
        raise ValueError(f"views must be (views, dim), got shape {views.shape}")
    norms = np.linalg.norm(views, axis=1, keepdims=True)
    return (views / np.where(norms == 0, 1.0, norms)).mean(axis=0)


def trial_scores(trials: Sequence[Trial], vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N,) the dot product of each trial's two :func:`unit_mean` vectors; NaN where an
    utterance has none (not decoded)."""
    out = np.full(len(trials), np.nan)
    for i, t in enumerate(trials):
        if t.enrol in vectors and t.test in vectors:
            out[i] = float(np.dot(vectors[t.enrol], vectors[t.test]))
    return out


def _skipped_trials(trials, vectors, items) -> dict:
    """Count, reasons (the first missing utterance's ``skipped`` reason) and examples of the
    trials with an utterance that has no embedding."""
    reason_of = {it["id"]: it.get("skipped") for it in items}
    reasons: Dict[str, int] = {}
    examples: List[str] = []
    for t in trials:
        missing = [u for u in (t.enrol, t.test) if u not in vectors]
        if missing:
            why = reason_of.get(missing[0]) or "no_embedding"
            reasons[why] = reasons.get(why, 0) + 1
            if len(examples) < MAX_EXAMPLES:
                examples.append(f"{t.enrol} {t.test}")
    return {
        "count": sum(reasons.values()),
        "reasons": dict(sorted(reasons.items())),
        "examples": examples,
    }


def verification_scores(
    trials: Sequence[Trial], scores: np.ndarray, p_target: float = 0.01
) -> Dict[str, object]:
    """``eer``, ``min_dcf`` (null without both kinds of scored trials), ``p_target`` and the
    trial counts of ``trials`` scored ``scores`` (NaN: not scored)."""
    target = np.array([t.target for t in trials], dtype=bool)
    ok = ~np.isnan(scores)
    n_t, n_n = int((target & ok).sum()), int((~target & ok).sum())
    both = n_t > 0 and n_n > 0
    if not both:
        logger.warning("%d target and %d non-target trials scored: no EER, no minDCF", n_t, n_n)
    return {
        "eer": eer(scores[ok], target[ok]) if both else None,
        "min_dcf": min_dcf(scores[ok], target[ok], p_target) if both else None,
        "p_target": p_target,
        "trials": len(trials),
        "target_trials": int(target.sum()),
        "nontarget_trials": int((~target).sum()),
        "scored_trials": n_t + n_n,
    }


def write_verification_results(
    out_dir: Pathlike,
    test_set: str,
    items: Sequence[Mapping],
    trials: Sequence[Trial],
    vectors: Mapping[str, np.ndarray],
    p_target: float = 0.01,
    info: Optional[Mapping] = None,
) -> dict:
    """Scores the trials and writes scores-, score- and hyps-<test_set>.* into ``out_dir``
    (see the module docstring).

    Args:
        items: one dict per utterance of the test set (``id``, ``ref``, ``hyp``, optional
            ``duration``, ``lang``, ``skipped``).
        trials: from :func:`read_trials`; every cut id must be an item's.
        vectors: cut id -> (E,) :func:`unit_mean` of its view embeddings, for the decoded
            utterances.
        info: further keys for the score file (e.g. ``{"model": {...}}``).

    Returns:
        the score dict written to ``score-<test_set>.json``.
    """
    from xlsr.scoring.results import accounting, hyp_record

    ids = {it["id"] for it in items}
    for t in trials:
        unknown = [u for u in (t.enrol, t.test) if u not in ids]
        if unknown:
            raise ValueError(f"{t.where}: cut id {unknown[0]!r} is not in the test set")
    scores = trial_scores(trials, vectors)
    result = verification_scores(trials, scores, p_target)
    result["skipped_trials"] = _skipped_trials(trials, vectors, items)
    result.update(accounting(items, "excluded"), **(info or {}))
    out = Path(out_dir)
    lines = [
        f"{t.enrol} {t.test} {'target' if t.target else 'nontarget'} {s:.6f}\n"
        for t, s in zip(trials, scores)
    ]
    atomic_write_text(out / f"scores-{test_set}.txt", "".join(lines))
    rows = [hyp_record(it) for it in sorted(items, key=lambda it: it["id"])]
    atomic_write_text(
        out / f"hyps-{test_set}.jsonl",
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
    )
    atomic_write_text(out / f"score-{test_set}.json", json.dumps(result, indent=2) + "\n")
    logger.info(
        "%s: EER %s, minDCF %s over %d of %d trials -> %s",
        test_set,
        result["eer"],
        result["min_dcf"],
        result["scored_trials"],
        len(trials),
        out,
    )
    return result
