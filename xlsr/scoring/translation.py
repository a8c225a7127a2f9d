"""Scoring of speech translation: corpus BLEU and chrF (sacrebleu) per direction, their
average over directions, and the result files of DESIGN.md contracts 3 and 6.

A direction is ``<src_lang>-<tgt_lang>`` (e.g. ``de-en``); a direction with no utterances
is absent. Per direction :func:`translation_scores` computes sacrebleu's corpus BLEU and
chrF over that direction's utterances (one reference each), with sacrebleu's signature.
``bleu`` / ``chrf`` at the top are the plain mean of the per-direction scores: the
"average BLEU" of the XLS-R paper's CoVoST-2 tables, a mean of directions (each counts
once however many utterances it has), not a corpus BLEU over all utterances. ``per_target``
adds the pooled corpus BLEU / chrF of all utterances with the same target language (e.g. all
X->en of a many-to-one model).

BLEU tokenizer by target language (the part before ``-`` / ``_``, so CoVoST's ``zh-CN`` is
``zh``): sacrebleu's default ``13a``, except ``TARGET_TOKENIZE``: ``zh`` for Chinese and
``ja-mecab`` for Japanese. The CoVoST 2 paper (Wang et al., 2020), as we recall it and not
re-checked here, reports character-level BLEU for its Chinese and Japanese targets (fairseq's
scorer has ``--sacrebleu-char-level`` for that); pass ``tokenize={"zh": "char", "ja": "char"}``
to score that way. A tokenizer that sacrebleu cannot build (``ja-mecab``
without ``mecab-python3`` / ``ipadic``; ``flores200`` without its downloaded model) falls
back to ``char`` with a warning; the signature then says ``tok:char`` and the direction's
``tokenize_note`` says why.

chrF is sacrebleu's default ``CHRF()`` (chrF2: character 6-grams, beta 2, no word n-grams).

:func:`write_translation_results` writes, in ``out_dir``:
    hyps-<set>.jsonl   a row per utterance, sorted by id: id, ref, hyp, src_lang, tgt_lang
                       (and lang / duration where the item has them), ``skipped`` (reason)
    score-<set>.json   ``bleu``, ``chrf`` (means over directions), ``bleu_loss`` (100 - bleu,
                       lower is better, for :func:`xlsr.scoring.results.write_summary`),
                       ``signature`` {bleu, chrf}, ``directions`` {dir: {bleu, chrf, n,
                       signature, ...}}, ``per_target``, ``num_utterances`` (scored), and
                       contract 6's ``utts``, ``skipped``, ``skipped_rule``
    report-<set>.txt   a table: a row per direction, the average, the pooled targets
``skipped_rule``: ``"deleted"`` scores a skipped utterance with an empty hypothesis;
``"excluded"`` leaves it out of every score (it still has its row in the hyps file).
"""

from __future__ import annotations

import functools
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from sacrebleu.metrics import BLEU, CHRF

from xlsr.scoring.results import (
    _check_test_set,
    _json_default,
    accounting,
    hyp_record,
    scored_items,
)
from xlsr.utils.io import atomic_write_text

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
DEFAULT_TOKENIZE = "13a"  # sacrebleu's default (WMT's mteval-v13a)
TARGET_TOKENIZE = {"zh": "zh", "ja": "ja-mecab"}  # target language -> sacrebleu tokenizer
FALLBACK_TOKENIZE = "char"  # when the chosen tokenizer cannot be built
REQUIRED_FIELDS = ("id", "ref", "hyp", "src_lang", "tgt_lang")


def base_lang(lang: str) -> str:
    """``zh-CN`` -> ``zh``; ``ja`` -> ``ja``."""
    return lang.replace("_", "-").split("-")[0].lower()


def direction_of(item: Mapping) -> str:
    return f"{item['src_lang']}-{item['tgt_lang']}"


@functools.cache
def tokenizer_problem(name: str) -> Optional[str]:
    """Why sacrebleu cannot build tokenizer ``name`` (None when it can); logged once."""
    try:
        BLEU(tokenize=name)
    except Exception as e:  # noqa: BLE001 - sacrebleu raises RuntimeError, URLError, ...
        text = str(e).strip()
        reason = text.splitlines()[0] if text else type(e).__name__
        note = f"tokenizer {name!r} unavailable ({reason}); scored with {FALLBACK_TOKENIZE!r}"
        logger.warning("BLEU: %s", note)
        return note
    return None


def bleu_metric(
    tgt_lang: str, tokenize: Optional[Mapping[str, str]] = None
) -> Tuple[BLEU, Optional[str]]:
    """sacrebleu's BLEU for a target language (see the module docstring) and a note when
    the tokenizer of choice could not be built (None otherwise).

    Args:
        tgt_lang: target language code, e.g. ``"de"``, ``"zh-CN"``.
        tokenize: overrides of ``TARGET_TOKENIZE`` by base language, e.g. ``{"zh": "char"}``.
    """
    name = {**TARGET_TOKENIZE, **(tokenize or {})}.get(base_lang(tgt_lang), DEFAULT_TOKENIZE)
    note = tokenizer_problem(name)
    return BLEU(tokenize=FALLBACK_TOKENIZE if note else name), note


def check_translation_items(items: Sequence[Mapping]) -> None:
    """Raises ValueError unless every item has str ``id``, ``ref``, ``hyp``, ``src_lang``,
    ``tgt_lang`` (the languages non-empty) and the ids are unique."""
    seen = set()
    for n, item in enumerate(items):
        for key in REQUIRED_FIELDS:
            if not isinstance(item.get(key), str):
                found = type(item[key]).__name__ if key in item else "nothing"
                raise ValueError(f"item {n} ({item.get('id', '?')!r}) field {key!r}: {found}")
        if not item["src_lang"] or not item["tgt_lang"]:
            raise ValueError(f"item {n} ({item['id']!r}) has an empty src_lang or tgt_lang")
        if item["id"] in seen:
            raise ValueError(f"duplicate utterance id {item['id']!r}")
        seen.add(item["id"])


def _hyp(item: Mapping) -> str:
    """The hypothesis scored: "" for a skipped utterance."""
    return "" if item.get("skipped") else item["hyp"]


def corpus_scores(
    items: Sequence[Mapping], tgt_lang: str, tokenize: Optional[Mapping[str, str]] = None
) -> dict:
    """Corpus BLEU and chrF of ``items`` (all into ``tgt_lang``), one reference each.

    Returns:
        dict: ``bleu``, ``chrf``, ``n``, ``signature`` {bleu, chrf}, ``tokenize``, BLEU's
        ``hyp_len`` / ``ref_len`` / ``precisions``, and ``tokenize_note`` after a fallback.
    """
    hyps, refs = [_hyp(it) for it in items], [[it["ref"] for it in items]]
    bleu, note = bleu_metric(tgt_lang, tokenize)
    chrf = CHRF()
    b, c = bleu.corpus_score(hyps, refs), chrf.corpus_score(hyps, refs)
    out = {
        "bleu": b.score,
        "chrf": c.score,
        "n": len(items),
        "signature": {"bleu": str(bleu.get_signature()), "chrf": str(chrf.get_signature())},
        "tokenize": bleu.tokenizer.signature(),
        "hyp_len": b.sys_len,
        "ref_len": b.ref_len,
        "precisions": list(b.precisions),
    }
    if note:
        out["tokenize_note"] = note
    longest = max((len(bleu.tokenizer(r).split()) for r in refs[0]), default=0)
    if longest < bleu.max_ngram_order:
        out["bleu_note"] = (
            f"no reference has {bleu.max_ngram_order} tokens (the longest: {longest}): BLEU "
            f"counts no {bleu.max_ngram_order}-gram match here, whatever the output (0 or near "
            "it by construction); compare chrF"
        )
    return out


def _mean(values: Sequence[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def _joint_signature(directions: Mapping[str, Mapping], metric: str) -> Optional[str]:
    """The signature shared by all directions, or each distinct one with its directions."""
    by_sig: Dict[str, List[str]] = defaultdict(list)
    for name, d in directions.items():
        by_sig[d["signature"][metric]].append(name)
    if len(by_sig) <= 1:
        return next(iter(by_sig), None)
    return "; ".join(f"{sig} ({', '.join(names)})" for sig, names in by_sig.items())


def translation_scores(
    items: Sequence[Mapping],
    skipped_rule: str = "deleted",
    tokenize: Optional[Mapping[str, str]] = None,
) -> dict:
    """BLEU and chrF per direction, averaged over directions and pooled per target.

    Args:
        items: one dict per utterance: ``id``, ``ref``, ``hyp``, ``src_lang``, ``tgt_lang``
            (str) and optionally ``skipped`` (the reason it was not translated).
        skipped_rule: ``"deleted"`` (a skipped utterance's hypothesis is "") or
            ``"excluded"`` (left out).
        tokenize: overrides of ``TARGET_TOKENIZE`` (see :func:`bleu_metric`).

    Returns:
        dict: ``bleu`` and ``chrf`` (mean over directions; None without directions),
        ``signature`` {bleu, chrf}, ``directions`` {"src-tgt": :func:`corpus_scores` plus
        ``src_lang``, ``tgt_lang``} sorted by name, ``per_target`` {tgt: :func:`corpus_scores`
        of all its utterances plus ``directions``}, ``num_utterances`` (scored).
    """
    check_translation_items(items)
    scored = scored_items(items, skipped_rule)
    groups: Dict[str, List[Mapping]] = defaultdict(list)
    targets: Dict[str, List[Mapping]] = defaultdict(list)
    for item in scored:
        groups[direction_of(item)].append(item)
        targets[item["tgt_lang"]].append(item)
    directions = {}
    for name in sorted(groups):
        group = groups[name]
        src, tgt = group[0]["src_lang"], group[0]["tgt_lang"]
        directions[name] = {"src_lang": src, "tgt_lang": tgt, **corpus_scores(group, tgt, tokenize)}
    per_target = {
        tgt: {
            **corpus_scores(targets[tgt], tgt, tokenize),
            "directions": sorted({direction_of(it) for it in targets[tgt]}),
        }
        for tgt in sorted(targets)
    }
    return {
        "bleu": _mean([d["bleu"] for d in directions.values()]),
        "chrf": _mean([d["chrf"] for d in directions.values()]),
        "signature": {m: _joint_signature(directions, m) for m in ("bleu", "chrf")},
        "directions": directions,
        "per_target": per_target,
        "num_utterances": len(scored),
    }


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _tok(scores: Mapping) -> str:
    return scores["tokenize"] + (" (fallback)" if "tokenize_note" in scores else "")


def format_report(test_set: str, score: Mapping) -> str:
    """A human table: a row per direction, the average over directions, pooled targets."""
    lines = [f"## {test_set}: BLEU / chrF per direction", "direction\tn\tBLEU\tchrF\ttok"]
    for name, d in score["directions"].items():
        mark = " *" if "bleu_note" in d else ""
        lines.append(f"{name}\t{d['n']}\t{_num(d['bleu'])}{mark}\t{_num(d['chrf'])}\t{_tok(d)}")
    count = len(score["directions"])
    lines.append(f"average ({count} directions)\t{score['num_utterances']}\t")
    lines[-1] += f"{_num(score['bleu'])}\t{_num(score['chrf'])}\t"
    lines += ["", "## pooled per target language (corpus scores)", "target\tn\tBLEU\tchrF\ttok"]
    for tgt, d in score["per_target"].items():
        lines.append(f"{tgt}\t{d['n']}\t{_num(d['bleu'])}\t{_num(d['chrf'])}\t{_tok(d)}")
    skipped = score["skipped"]
    lines += [
        "",
        f"utterances: {score['utts']}, skipped: {skipped['count']} {skipped['reasons']} "
        f"(scored as {score['skipped_rule']})",
        f"BLEU signature: {score['signature']['bleu']}",
        f"chrF signature: {score['signature']['chrf']}",
    ]
    lines += [
        f"note {n}: {d['tokenize_note']}"
        for n, d in score["directions"].items()
        if "tokenize_note" in d
    ]
    lines += [
        f"* {n}: {d['bleu_note']}" for n, d in score["directions"].items() if "bleu_note" in d
    ]
    return "\n".join(lines) + "\n"


def write_translation_results(
    out_dir: Pathlike,
    test_set: str,
    items: Sequence[Mapping],
    skipped_rule: str = "deleted",
    info: Optional[Mapping] = None,
    tokenize: Optional[Mapping[str, str]] = None,
    extra_fields: Sequence[str] = (),
) -> dict:
    """Scores a translation decode and writes its result files (see the module docstring).

    Args:
        out_dir: output directory (created if missing).
        test_set: name used in the file names, e.g. ``"test"`` -> ``hyps-test.jsonl``.
        items: as for :func:`translation_scores`.
        skipped_rule: ``"deleted"`` or ``"excluded"``.
        info: further keys for the score file (e.g. ``{"model": {...}}``).
        tokenize: overrides of ``TARGET_TOKENIZE`` (e.g. ``{"zh": "char", "ja": "char"}``).
        extra_fields: further item keys to copy into the hyps rows where present.

    Returns:
        the score dict written to ``score-<test_set>.json``.
    """
    _check_test_set(test_set)
    score = translation_scores(items, skipped_rule, tokenize)
    for name, d in score["directions"].items():
        if "bleu_note" in d:
            logger.warning("%s %s: %s", test_set, name, d["bleu_note"])
    score["bleu_loss"] = None if score["bleu"] is None else 100.0 - score["bleu"]
    score.update(accounting(items, skipped_rule), **(info or {}))
    out = Path(out_dir)
    rows = [hyp_record(it, tuple(extra_fields)) for it in sorted(items, key=lambda it: it["id"])]
    atomic_write_text(
        out / f"hyps-{test_set}.jsonl",
        "".join(json.dumps(r, ensure_ascii=False, default=_json_default) + "\n" for r in rows),
    )
    atomic_write_text(
        out / f"score-{test_set}.json", json.dumps(score, indent=2, ensure_ascii=False) + "\n"
    )
    report = format_report(test_set, score)
    atomic_write_text(out / f"report-{test_set}.txt", report)
    logger.info("%s -> %s\n%s", test_set, out, report)
    return score
