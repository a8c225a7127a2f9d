"""Result files of an ASR decode (contract 3 of DESIGN.md), an independent recount and a
summary table.

In ``out_dir`` (``egs/<corpus>/<task>/exp/...``) :func:`write_results` writes
    hyps-<test_set>.jsonl   one JSON object per utterance, sorted by id: id, ref, hyp, plus
                            lang / src_lang / tgt_lang / duration where the item has them, and
                            ``skipped`` (the reason) for an utterance that was not decoded
    score-<test_set>.json   the score dict of :func:`xlsr.scoring.asr.score_utterances` plus
                            the accounting of contract 6 (:func:`accounting`):
                              utts          utterances in the test set (decoded or not)
                              skipped       {"count": n, "reasons": {reason: n},
                                             "examples": [up to 10 ids, sorted]}
                              skipped_rule  "deleted": a skipped utterance is scored with hyp
                                            "" (all its reference words deleted); "excluded":
                                            it is left out (``num_utterances`` = utts - count)
    errs-<test_set>.txt     alignments and error tables (:func:`xlsr.scoring.asr.write_errs`)
Each file is written atomically (:func:`xlsr.utils.io.atomic_write_text`).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import kaldialign

from xlsr.scoring.asr import (
    WerStats,
    check_items,
    format_errs,
    group_of,
    score_utterances,
    stats_dict,
    text_units,
)
from xlsr.utils.io import atomic_write_text

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
OPTIONAL_FIELDS = ("lang", "src_lang", "tgt_lang", "duration", "skipped")
SKIPPED_RULES = ("deleted", "excluded")
MAX_EXAMPLES = 10  # skipped ids listed in a score file


def _json_default(value):
    """numpy / torch scalars (e.g. a duration) become Python numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _check_test_set(test_set: str) -> None:
    if not isinstance(test_set, str) or not test_set or any(c in test_set for c in "/\\\0"):
        raise ValueError(f"test_set must be a non-empty file-name part, got {test_set!r}")


def hyp_record(item: Mapping, extra_fields: Sequence[str] = ()) -> dict:
    """The JSON object of one utterance in ``hyps-<test_set>.jsonl``."""
    record = {"id": item["id"], "ref": item["ref"], "hyp": item["hyp"]}
    for key in (*OPTIONAL_FIELDS, *extra_fields):
        if key in item and key not in record:
            record[key] = item[key]
    return record


def _check_rule(skipped_rule: str) -> None:
    if skipped_rule not in SKIPPED_RULES:
        raise ValueError(f"skipped_rule must be one of {SKIPPED_RULES}, got {skipped_rule!r}")


def scored_items(items: Sequence[Mapping], skipped_rule: str = "deleted") -> List[Mapping]:
    """The items a score counts: all (a skipped one's hyp is "") or, with ``"excluded"``,
    those without ``skipped``."""
    _check_rule(skipped_rule)
    if skipped_rule == "excluded":
        return [it for it in items if not it.get("skipped")]
    return list(items)


def accounting(items: Sequence[Mapping], skipped_rule: str = "deleted") -> dict:
    """``utts``, ``skipped`` (count, reasons, examples) and ``skipped_rule`` of a test set
    whose not-decoded utterances carry ``skipped`` (their reason)."""
    _check_rule(skipped_rule)
    skipped = sorted((str(it["id"]), str(it["skipped"])) for it in items if it.get("skipped"))
    reasons: Dict[str, int] = defaultdict(int)
    for _, reason in skipped:
        reasons[reason] += 1
    return {
        "utts": len(items),
        "skipped": {
            "count": len(skipped),
            "reasons": dict(sorted(reasons.items())),
            "examples": [cut_id for cut_id, _ in skipped[:MAX_EXAMPLES]],
        },
        "skipped_rule": skipped_rule,
    }


def write_results(
    out_dir: Pathlike,
    test_set: str,
    items: Sequence[Mapping],
    extra_fields: Optional[Sequence[str]] = None,
    cer: bool = False,
    skipped_rule: str = "deleted",
    info: Optional[Mapping] = None,
) -> dict:
    """Scores a decode and writes its hyps, score and errs files into ``out_dir``.

    Args:
        out_dir: output directory (created if missing).
        test_set: name used in the file names, e.g. ``"test"`` -> ``hyps-test.jsonl``.
        items: one dict per utterance of the test set, with ``id``, ``ref``, ``hyp`` (str),
            optionally ``lang``, ``src_lang``, ``tgt_lang``, ``duration`` (copied into the
            hyps file) and ``skipped`` (the reason an utterance was not decoded; its hyp is
            "").
        extra_fields: further item keys to copy into each hyps line where present
            (e.g. ``["speaker"]``).
        cer: also score characters (``cer``, ``chars``, ``char_*`` keys, and a ``%CER`` line
            in the errs file, whose alignments stay over words).
        skipped_rule: ``"deleted"`` or ``"excluded"`` (see the module docstring).
        info: further keys for the score file (e.g. ``{"model": {...}}``).

    Returns:
        the score dict written to ``score-<test_set>.json`` (with ``num_utterances``, the
        utterances scored, and :func:`accounting`).
    """
    _check_test_set(test_set)
    out_dir = Path(out_dir)
    check_items(items)
    scored = scored_items(items, skipped_rule)
    score = {**score_utterances(scored, cer=cer), **accounting(items, skipped_rule), **(info or {})}
    extra = tuple(extra_fields or ())
    lines = [
        json.dumps(hyp_record(item, extra), ensure_ascii=False, default=_json_default) + "\n"
        for item in sorted(items, key=lambda it: it["id"])
    ]
    atomic_write_text(out_dir / f"hyps-{test_set}.jsonl", "".join(lines))
    atomic_write_text(
        out_dir / f"score-{test_set}.json", json.dumps(score, indent=2, ensure_ascii=False) + "\n"
    )
    atomic_write_text(out_dir / f"errs-{test_set}.txt", format_errs(scored, score))
    logger.info(
        "%s: %%WER %.2f [ %d / %d, %d ins, %d del, %d sub ] over %d of %d utterances "
        "(%d skipped, scored as %s) -> %s",
        test_set,
        score["wer"],
        score["errors"],
        score["words"],
        score["ins"],
        score["del"],
        score["sub"],
        score["num_utterances"],
        score["utts"],
        score["skipped"]["count"],
        skipped_rule,
        out_dir,
    )
    return score


def read_hyps(path: Pathlike) -> List[dict]:
    """The records of a ``hyps-<test_set>.jsonl`` file (blank lines skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not a JSON line ({e})") from e
    return records


def _edit_stats(ref: str, hyp: str, cer: bool) -> WerStats:
    counts = kaldialign.edit_distance(text_units(ref, cer), text_units(hyp, cer))
    return WerStats(
        words=int(counts["ref_len"]),
        ins=int(counts["ins"]),
        dels=int(counts["del"]),
        subs=int(counts["sub"]),
    )


def recount(
    hyps_jsonl_path: Pathlike,
    cer: bool = False,
    by: Optional[str] = "lang",
    skipped_rule: str = "deleted",
) -> dict:
    """Re-scores a hyps file with ``kaldialign.edit_distance`` (not the alignment used by
    :func:`write_results`), as an independent check of ``score-<test_set>.json``.

    Returns:
        a dict of the same layout as :func:`xlsr.scoring.asr.score_utterances`, plus
        :func:`accounting` (``utts``, ``skipped``, ``skipped_rule``).
    """
    every = read_hyps(hyps_jsonl_path)
    records = scored_items(every, skipped_rule)
    totals = {False: WerStats(), True: WerStats()}
    groups: Dict[str, dict] = defaultdict(lambda: {False: WerStats(), True: WerStats(), "n": 0})
    grouped = by is not None and any(by in r for r in records)
    for record in records:
        for unit in (False, True) if cer else (False,):
            stats = _edit_stats(record["ref"], record["hyp"], cer=unit)
            totals[unit] += stats
            if grouped:
                groups[group_of(record, by)][unit] += stats
        if grouped:
            groups[group_of(record, by)]["n"] += 1
    out = stats_dict(totals[False], len(records), totals[True] if cer else None)
    if by is not None:
        out[f"per_{by}"] = {
            name: stats_dict(g[False], g["n"], g[True] if cer else None)
            for name, g in sorted(groups.items())
        }
    return {**out, **accounting(every, skipped_rule)}


def write_summary(
    path: Pathlike, rows: Sequence[Mapping], metric: str = "wer", note: Optional[str] = None
) -> Mapping:
    """Writes a table of methods (decoding method, LM scale ...) for one test set, best first.

    Layout: a title line (``## WER summary (best first)``, then ``; <note>`` when given),
    ``method<TAB>WER``, one line per method; so line 3 is the best method.

    Args:
        path: output text file, e.g. ``exp/decode/wer-summary-test.txt``.
        rows: dicts with ``method`` (str) and ``metric`` (a rate in percent, lower is
            better), e.g. ``{"method": "hlg_lm_scale_0.6", "wer": 12.3}``.
        metric: the key to rank by and print.
        note: said in the title line, e.g. how many utterances were skipped.

    Returns:
        the best row (lowest ``metric``; ties broken by method name).
    """
    if not rows:
        raise ValueError("write_summary needs at least one row, got none")
    for n, row in enumerate(rows):
        if "method" not in row or metric not in row:
            raise ValueError(f"row {n} needs 'method' and {metric!r}, got keys {sorted(row)}")
    ranked = sorted(rows, key=lambda r: (float(r[metric]), str(r["method"])))
    name = metric.upper()
    title = f"## {name} summary (best first)" + (f"; {note}" if note else "")
    lines = [title, f"method\t{name}"]
    lines += [f"{row['method']}\t{float(row[metric]):.2f}" for row in ranked]
    atomic_write_text(path, "\n".join(lines) + "\n")
    best = ranked[0]
    logger.info("best %s: %s (%.2f)", name, best["method"], float(best[metric]))
    return best
