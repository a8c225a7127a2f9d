"""Scoring of utterance classification (language ID, speaker ID): accuracy overall and per
duration bucket, fairseq's report, and the result files of DESIGN.md contract 3.

The XLS-R release note reports language ID as fairseq's ``eval_speaker_clf_task.py --task
cls`` prints it; :func:`format_report` prints the same four lines from our counts:

    | run classification evaluation
    | acc = 94.34% -- err = 5.66% -- correct=1518 total=1609
    | acc 0to5 = 90.91% -- err = 9.09% -- c_5=230.0 t_5=253
    | acc 5to20 = 94.99% -- err = 5.01% -- c_20=1288.0 t_20=1356

The buckets use the whole utterance's duration: ``0to5`` is duration <= 5 s, ``5to20`` is
duration > 5 s (longer ones too, as fairseq counts them); the bucket's correct count prints
as a float and its total as an integer, as there.

Several views of an utterance (random crops) are merged before the argmax by
:func:`merge_views`: ``mean_prob`` averages the views' softmax probabilities; ``mean_logit``
is fairseq's name for the same computation (its code averages probabilities too);
``mean_raw_logit`` averages the logits themselves.

:func:`write_classification_results` writes, in ``out_dir``:
    hyps-<set>.jsonl       a row per utterance, sorted by id: id, ref, hyp, duration, lang
                           (the cut's supervision language: for lid the reference itself),
                           the method's public fields (argmax: ``top``, the 5 best labels
                           with their probabilities, best first) and ``skipped``
    score-<set>.json       accuracy overall and per bucket (contract 3), ``error``, and the
                           accounting of contract 6 (utts, skipped, skipped_rule)
    report-<set>.txt       fairseq's four-line report
    confusion-<set>.txt    the confusion matrix as text (:mod:`xlsr.scoring.plots`): a row
                           per reference label, a column per hypothesis, row total and acc%
    confusion-<set>.png    the same as a picture (counts in the cells up to 30 classes)
The confusion files are written for up to ``MAX_CONFUSION_CLASSES`` reference labels (the
languages of lid; the speakers of a sid test set) and left out, with a log line, above.

:func:`write_embeddings_npz` writes fairseq ``gen_audio_embedding.py``'s ``.npz`` (see there).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from xlsr.utils.io import atomic_output, atomic_write_text

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
MERGES = ("mean_prob", "mean_logit", "mean_raw_logit")
SHORT_MAX = 5.0  # seconds: the 0to5 bucket is duration <= SHORT_MAX
MAX_CONFUSION_CLASSES = 300  # reference labels up to which confusion files are written


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def merge_views(view_logits: np.ndarray, how: str = "mean_prob") -> np.ndarray:
    """Class scores of each utterance from the logits of its views.

    Args:
        view_logits (ndarray): (N, views, classes) logits.
        how: one of ``MERGES``.

    Returns:
        ndarray: (N, classes); probabilities for ``mean_prob`` / ``mean_logit``, mean logits
        for ``mean_raw_logit``. Argmax gives the predicted class.
    """
    if view_logits.ndim != 3:
        raise ValueError(f"view_logits must be (N, views, classes), got shape {view_logits.shape}")
    if how in ("mean_prob", "mean_logit"):
        return softmax(view_logits.astype(np.float64)).mean(axis=1)
    if how == "mean_raw_logit":
        return view_logits.astype(np.float64).mean(axis=1)
    raise ValueError(f"merge must be one of {MERGES}, got {how!r}")


def classification_scores(
    refs: Sequence[str], hyps: Sequence[str], durations: Sequence[float]
) -> Dict[str, float]:
    """Accuracy (percent) overall and per duration bucket.

    Returns:
        dict: ``accuracy``, ``n``, ``correct``, ``accuracy_0_5``, ``n_0_5``, ``correct_0_5``,
        ``accuracy_5_20``, ``n_5_20``, ``correct_5_20`` (an empty bucket's accuracy is None).
    """
    if not len(refs) == len(hyps) == len(durations):
        raise ValueError(f"{len(refs)} refs, {len(hyps)} hyps and {len(durations)} durations")
    right = np.array([r == h for r, h in zip(refs, hyps)], dtype=bool)
    short = np.array([float(d) <= SHORT_MAX for d in durations], dtype=bool)
    out: Dict[str, float] = {}
    for suffix, mask in (("", np.ones_like(short)), ("_0_5", short), ("_5_20", ~short)):
        n, correct = int(mask.sum()), int(right[mask].sum())
        out[f"accuracy{suffix}"] = 100.0 * correct / n if n else None
        out[f"n{suffix}"] = n
        out[f"correct{suffix}"] = correct
    return out


def _line(label: str, correct: float, total: int, counts: str) -> str:
    if total == 0:
        return f"| {label} = n/a (no utterances) -- {counts}"
    acc = 100.0 * correct / total
    return f"| {label} = {acc:.2f}% -- err = {100.0 - acc:.2f}% -- {counts}"


def format_report(scores: Mapping[str, float]) -> str:
    """fairseq's four-line classification report (see the module docstring)."""
    c, t = scores["correct"], scores["n"]
    c5, t5 = scores["correct_0_5"], scores["n_0_5"]
    c20, t20 = scores["correct_5_20"], scores["n_5_20"]
    return "\n".join(
        [
            "| run classification evaluation",
            _line("acc", c, t, f"correct={c} total={t}"),
            _line("acc 0to5", c5, t5, f"c_5={float(c5)} t_5={t5}"),
            _line("acc 5to20", c20, t20, f"c_20={float(c20)} t_20={t20}"),
        ]
    )


def write_classification_results(
    out_dir: Pathlike,
    test_set: str,
    items: Sequence[Mapping],
    skipped_rule: str = "deleted",
    info: Optional[Mapping] = None,
    extra_fields: Sequence[str] = (),
    confusion: bool = True,
) -> dict:
    """Scores a classification decode and writes its result files (see the module
    docstring) into ``out_dir``.

    Args:
        items: per utterance ``id``, ``ref``, ``hyp``, ``duration``; optional ``top`` (list of
            [label, probability], best first) and ``skipped`` (reason: the utterance was not
            classified).
        skipped_rule: ``deleted`` counts a skipped utterance as wrong, ``excluded`` leaves it
            out of the scores.
        info: further keys for the score file (e.g. ``{"model": {...}}``).
        extra_fields: further item keys to copy into the hyps rows where present.
        confusion: also write confusion-<set>.txt and .png.

    Returns:
        the score dict (contract 3: ``accuracy``, ``n``, ``accuracy_0_5``, ``n_0_5``,
        ``accuracy_5_20``, ``n_5_20``; contract 6: ``utts``, ``skipped``, ``skipped_rule``).
    """
    if skipped_rule not in ("deleted", "excluded"):
        raise ValueError(f"skipped_rule must be 'deleted' or 'excluded', got {skipped_rule!r}")
    skipped = [it for it in items if it.get("skipped")]
    scored = [it for it in items if not (it.get("skipped") and skipped_rule == "excluded")]
    scores = classification_scores(
        [it["ref"] for it in scored],
        [None if it.get("skipped") else it["hyp"] for it in scored],
        [it["duration"] for it in scored],
    )
    reasons: Dict[str, int] = {}
    for it in skipped:
        reasons[it["skipped"]] = reasons.get(it["skipped"], 0) + 1
    scores.update(
        utts=len(items),
        skipped={"count": len(skipped), "reasons": reasons},
        skipped_rule=skipped_rule,
        error=None if scores["accuracy"] is None else 100.0 - scores["accuracy"],
    )
    if info:
        scores.update(info)
    out = Path(out_dir)
    rows = [_hyp_row(it, extra_fields) for it in sorted(items, key=lambda it: it["id"])]
    atomic_write_text(
        out / f"hyps-{test_set}.jsonl",
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
    )
    atomic_write_text(out / f"score-{test_set}.json", json.dumps(scores, indent=2) + "\n")
    report = format_report(scores)
    atomic_write_text(out / f"report-{test_set}.txt", report + "\n")
    if confusion:
        refs, hyps = [it["ref"] for it in scored], [_hyp(it) for it in scored]
        write_confusion_files(out, test_set, refs, hyps, scores["accuracy"])
    logger.info("%s -> %s\n%s", test_set, out, report)
    return scores


def _hyp(item: Mapping) -> str:
    return "" if item.get("skipped") else item["hyp"]


def _hyp_row(item: Mapping, extra_fields: Sequence[str] = ()) -> dict:
    row = {"id": item["id"], "ref": item["ref"], "hyp": item["hyp"], "duration": item["duration"]}
    for key in ("top", "skipped", "lang", *extra_fields):
        if key in item and not key.startswith("_"):
            row[key] = item[key]
    return row


def write_confusion_files(
    out_dir: Pathlike, test_set: str, refs: Sequence[str], hyps: Sequence[str], accuracy=None
) -> bool:
    """confusion-<test_set>.txt and .png in ``out_dir`` (the picture only where matplotlib
    imports); False (and a log line) when there are more than ``MAX_CONFUSION_CLASSES``
    reference labels."""
    from xlsr.scoring.plots import plot_confusion, write_confusion_text

    classes = len(set(refs))
    if classes > MAX_CONFUSION_CLASSES:
        logger.info(
            "%s: %d reference labels, no confusion matrix (more than %d)",
            test_set,
            classes,
            MAX_CONFUSION_CLASSES,
        )
        return False
    out = Path(out_dir)
    write_confusion_text(out / f"confusion-{test_set}.txt", refs, hyps)
    acc = "" if accuracy is None else f": accuracy {accuracy:.2f} %"
    title = f"{test_set}{acc} ({len(refs)} utterances)"
    try:
        plot_confusion(refs, hyps, None, out / f"confusion-{test_set}.png", title)
    except ImportError as e:
        logger.warning("%s: no confusion-%s.png (%s)", test_set, test_set, e)
    return True


def top_labels(probs: np.ndarray, labels: Sequence[str], k: int = 5) -> List[List]:
    """[[label, probability], ...] of the ``k`` best classes, best first (one utterance)."""
    order = np.argsort(-probs)[:k]
    return [[labels[i], round(float(probs[i]), 6)] for i in order]


def write_embeddings_npz(
    path: Pathlike, items: Sequence[Mapping], labels: Sequence[str], views: int
) -> Optional[Path]:
    """fairseq ``gen_audio_embedding.py``'s ``.npz`` of the decoded utterances, in test-set
    order (a skipped one has no views and is left out; the hyps and score files count it).

    Keys (N decoded utterances, V = ``views``, C classes, E embedding width):
        name     (N,) str       cut ids
        latent   (N, V, E) f32  pooled embeddings before the activation (fairseq
                                ``pooling_layer.forward_latent``); (0,) when the model gives none
        target   (N,) int64     class id of the reference label in ``labels``; -1 for a label
                                not in the dictionary (e.g. an unseen speaker)
        logit    (N, V, C) f32  logits of each view
        src_len  (N,) int64     samples of the whole utterance (16 kHz)
    An utterance not longer than a crop runs once; its view is repeated V times (in fairseq
    its V views are the same padded input, so they are equal too).

    Args:
        items: result items; a decoded one has ``_views``: {"logit": (v, C), "latent": (v,
            E) or None, "src_len": int} with v = 1 or V.

    Returns:
        the path written, or None when no item has views.
    """
    rows = [it for it in items if "_views" in it]
    if not rows:
        logger.warning("%s: no decoded utterances, no npz written", path)
        return None
    index = {label: i for i, label in enumerate(labels)}
    arrays = {
        "name": np.array([str(it["id"]) for it in rows]),
        "latent": _stacked(rows, "latent", views),
        "target": np.array([index.get(it["ref"], -1) for it in rows], dtype=np.int64),
        "logit": _stacked(rows, "logit", views),
        "src_len": np.array([int(it["_views"]["src_len"]) for it in rows], dtype=np.int64),
    }
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    logger.info("%s: %s", path, {k: v.shape for k, v in arrays.items()})
    return Path(path)


def _stacked(rows: Sequence[Mapping], key: str, views: int) -> np.ndarray:
    """(N, views, D) float32 of the rows' ``_views[key]``; (0,) when one has none."""
    per_row = [it["_views"].get(key) for it in rows]
    if any(x is None for x in per_row):
        return np.zeros(0, np.float32)
    return np.stack([_repeat(x, views) for x in per_row]).astype(np.float32)


def _repeat(views: np.ndarray, n: int) -> np.ndarray:
    """(v, D) -> (n, D): a single view repeated; ``n`` views as they are."""
    views = np.asarray(views)
    if views.shape[0] == n:
        return views
    if views.shape[0] != 1:
        raise ValueError(f"{views.shape[0]} views, expected 1 or {n}")
    return np.repeat(views, n, axis=0)
