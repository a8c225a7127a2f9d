"""Result files of an ASR decode (contract 3 of DESIGN.md), an independent recount and a
summary table.

In ``out_dir`` (``egs/<corpus>/<task>/exp/...``) :func:`write_results` writes
    hyps-<test_set>.jsonl   one JSON object per utterance, sorted by id: id, ref, hyp, plus
                            lang / src_lang / tgt_lang / duration where the item has them
    score-<test_set>.json   the score dict of :func:`xlsr.scoring.asr.score_utterances`
    errs-<test_set>.txt     alignments and error tables (:func:`xlsr.scoring.asr.write_errs`)
Each file is written to a temporary file and renamed into place.
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
    format_errs,
    group_of,
    score_utterances,
    stats_dict,
    text_units,
    write_text_atomic,
)

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
OPTIONAL_FIELDS = ("lang", "src_lang", "tgt_lang", "duration")


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


def write_results(
    out_dir: Pathlike,
    test_set: str,
    items: Sequence[Mapping],
    extra_fields: Optional[Sequence[str]] = None,
    cer: bool = False,
) -> dict:
    """Scores a decode and writes its hyps, score and errs files into ``out_dir``.

    Args:
        out_dir: output directory (created if missing).
        test_set: name used in the file names, e.g. ``"test"`` -> ``hyps-test.jsonl``.
        items: dicts with ``id``, ``ref``, ``hyp`` (str), optionally ``lang``,
            ``src_lang``, ``tgt_lang``, ``duration`` (copied into the hyps file).
        extra_fields: further item keys to copy into each hyps line where present
            (e.g. ``["speaker"]``).
        cer: also score characters (``cer``, ``chars``, ``char_*`` keys, and a ``%CER`` line
            in the errs file, whose alignments stay over words).

    Returns:
        the score dict written to ``score-<test_set>.json`` (with ``num_utterances``).
    """
    _check_test_set(test_set)
    out_dir = Path(out_dir)
    score = score_utterances(items, cer=cer)  # validates the items
    extra = tuple(extra_fields or ())
    lines = [
        json.dumps(hyp_record(item, extra), ensure_ascii=False, default=_json_default) + "\n"
        for item in sorted(items, key=lambda it: it["id"])
    ]
    write_text_atomic(out_dir / f"hyps-{test_set}.jsonl", "".join(lines))
    write_text_atomic(
        out_dir / f"score-{test_set}.json", json.dumps(score, indent=2, ensure_ascii=False) + "\n"
    )
    write_text_atomic(out_dir / f"errs-{test_set}.txt", format_errs(items, score))
    logger.info(
        "%s: %%WER %.2f [ %d / %d, %d ins, %d del, %d sub ] over %d utterances -> %s",
        test_set,
        score["wer"],
        score["errors"],
        score["words"],
        score["ins"],
        score["del"],
        score["sub"],
        score["num_utterances"],
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


def recount(hyps_jsonl_path: Pathlike, cer: bool = False, by: Optional[str] = "lang") -> dict:
    """Re-scores a hyps file with ``kaldialign.edit_distance`` (not the alignment used by
    :func:`write_results`), as an independent check of ``score-<test_set>.json``.

    Returns:
        a dict of the same layout as :func:`xlsr.scoring.asr.score_utterances`.
    """
    records = read_hyps(hyps_jsonl_path)
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
    return out


def write_summary(path: Pathlike, rows: Sequence[Mapping], metric: str = "wer") -> Mapping:
    """Writes a table of methods (decoding method, LM scale ...) for one test set, best first.

    Args:
        path: output text file, e.g. ``exp/decode/wer-summary-test.txt``.
        rows: dicts with ``method`` (str) and ``metric`` (a rate in percent, lower is
            better), e.g. ``{"method": "hlg_lm_scale_0.6", "wer": 12.3}``.
        metric: the key to rank by and print.

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
    lines = [f"## {name} summary (best first)", f"method\t{name}"]
    lines += [f"{row['method']}\t{float(row[metric]):.2f}" for row in ranked]
    write_text_atomic(path, "\n".join(lines) + "\n")
    best = ranked[0]
    logger.info("best %s: %s (%.2f)", name, best["method"], float(best[metric]))
    return best
