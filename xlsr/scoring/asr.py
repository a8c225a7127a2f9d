"""Word and character error rates, and the human-readable ``errs-<test_set>.txt``.

Scoring is exact string matching on whitespace-split words: callers normalise text (case,
punctuation) before scoring. Character error rate (CER) aligns the characters of the text
with all whitespace removed, so a misplaced word boundary costs nothing in CER
("ab c" vs "a bc": WER 100 %, CER 0 %).

Alignments come from ``kaldialign.align`` (Kaldi's Levenshtein alignment: substitution,
insertion and deletion each cost 1). :func:`xlsr.scoring.results.recount` re-counts with
``kaldialign.edit_distance`` as an independent check.

Score dicts (contract 3 of DESIGN.md) hold, at the top level and per group (``per_lang``):
    wer, words, ins, del, sub, errors, num_utterances
and with ``cer=True`` also
    cer, chars, char_ins, char_del, char_sub, char_errors
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import kaldialign

from xlsr.utils.io import atomic_write_text

Pathlike = Union[str, Path]
Alignment = List[Tuple[str, str]]  # (ref unit or eps, hyp unit or eps)
EPS = "*"
UNKNOWN_GROUP = "unknown"  # group of items that lack the ``by`` field


@dataclass
class WerStats:
    """Error counts over one or more utterances (units: words, or characters for CER)."""

    words: int = 0  # reference units (words, or characters for CER)
    ins: int = 0  # hypothesis units aligned to nothing in the reference
    dels: int = 0  # reference units aligned to nothing in the hypothesis
    subs: int = 0  # reference units aligned to a different hypothesis unit

    def __post_init__(self):
        counts = {"words": self.words, "ins": self.ins, "dels": self.dels, "subs": self.subs}
        for name, value in counts.items():
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"WerStats.{name} must be a non-negative int, got {value!r}")
        if self.dels + self.subs > self.words:
            raise ValueError(
                f"WerStats: dels + subs = {self.dels + self.subs} exceeds words = {self.words}"
            )

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def wer(self) -> float:
        """Error rate in percent. With no reference units it is reported as 0.0 (the rate is
        undefined; any insertions stay visible in ``ins``/``errors``)."""
        if self.words == 0:
            return 0.0
        return 100.0 * self.errors / self.words

    def __add__(self, other: WerStats) -> WerStats:
        if not isinstance(other, WerStats):
            return NotImplemented
        return WerStats(
            self.words + other.words,
            self.ins + other.ins,
            self.dels + other.dels,
            self.subs + other.subs,
        )


def text_units(text: str, cer: bool = False) -> List[str]:
    """Words of ``text`` (whitespace split), or with ``cer`` its characters without
    whitespace."""
    if not isinstance(text, str):
        raise ValueError(f"expected a str transcript, got {type(text).__name__}: {text!r}")
    return list("".join(text.split())) if cer else text.split()


def free_eps(*sequences: Iterable[str]) -> str:
    """``"*"``, or more stars when the sequences contain ``"*"`` as a unit."""
    used = set().union(*map(set, sequences))
    eps = EPS
    while eps in used:
        eps += EPS
    return eps


def align(ref_words: Sequence[str], hyp_words: Sequence[str], eps: str = EPS) -> Alignment:
    """Levenshtein alignment of two unit sequences.

    Returns:
        pairs ``(ref, hyp)``: ``(w, w)`` correct, ``(r, h)`` substitution, ``(eps, h)``
        insertion, ``(r, eps)`` deletion.

    Raises:
        ValueError: if ``eps`` occurs in the input (use :func:`free_eps`).
    """
    ref_words, hyp_words = list(ref_words), list(hyp_words)
    if eps in ref_words or eps in hyp_words:
        raise ValueError(f"the gap symbol {eps!r} occurs in the input; pick another eps")
    return [tuple(pair) for pair in kaldialign.align(ref_words, hyp_words, eps)]


def alignment_stats(alignment: Alignment, eps: str = EPS) -> WerStats:
    """Counts of an alignment from :func:`align`."""
    ins = sum(r == eps for r, _ in alignment)
    dels = sum(h == eps for _, h in alignment)
    subs = sum(r != h and eps not in (r, h) for r, h in alignment)
    return WerStats(words=len(alignment) - ins, ins=ins, dels=dels, subs=subs)


def utterance_stats(ref: str, hyp: str, cer: bool = False) -> WerStats:
    """Error counts of one utterance: words, or with ``cer`` characters without whitespace."""
    ref_units, hyp_units = text_units(ref, cer), text_units(hyp, cer)
    eps = free_eps(ref_units, hyp_units)
    return alignment_stats(align(ref_units, hyp_units, eps), eps)


def check_items(items: Sequence[Mapping]) -> None:
    """Raises ValueError unless every item has str ``id``, ``ref``, ``hyp`` and ids are
    unique."""
    seen = set()
    for n, item in enumerate(items):
        for key in ("id", "ref", "hyp"):
            if key not in item:
                raise ValueError(f"item {n} ({item.get('id', '?')!r}) has no {key!r} field")
            if not isinstance(item[key], str):
                raise ValueError(
                    f"item {n} field {key!r} must be str, got {type(item[key]).__name__}"
                )
        if item["id"] in seen:
            raise ValueError(f"duplicate utterance id {item['id']!r}")
        seen.add(item["id"])


def stats_dict(
    word: WerStats, num_utterances: int, char: Optional[WerStats] = None
) -> Dict[str, Union[int, float]]:
    """The score dict of contract 3 (plus ``errors``, ``num_utterances`` and CER keys)."""
    out: Dict[str, Union[int, float]] = {
        "wer": word.wer,
        "words": word.words,
        "ins": word.ins,
        "del": word.dels,
        "sub": word.subs,
        "errors": word.errors,
        "num_utterances": num_utterances,
    }
    if char is not None:
        out.update(
            cer=char.wer,
            chars=char.words,
            char_ins=char.ins,
            char_del=char.dels,
            char_sub=char.subs,
            char_errors=char.errors,
        )
    return out


def group_of(item: Mapping, by: str) -> str:
    value = item.get(by)
    return UNKNOWN_GROUP if value is None else str(value)


def score_utterances(
    items: Sequence[Mapping], cer: bool = False, by: Optional[str] = "lang"
) -> dict:
    """Scores a test set overall and per group.

    Args:
        items: dicts with ``id``, ``ref``, ``hyp`` (str) and optionally the ``by`` field.
        cer: also compute character error rates (keys ``cer``, ``chars``, ``char_*``).
        by: item field to break the score down by, into ``per_<by>`` (``per_lang`` by
            default; items without the field count as ``"unknown"``; empty when no item has
            it). ``None``: no breakdown.

    Returns:
        :func:`stats_dict` of the whole set, plus ``per_<by>``: group -> :func:`stats_dict`.
    """
    check_items(items)
    word = [utterance_stats(it["ref"], it["hyp"]) for it in items]
    char = [utterance_stats(it["ref"], it["hyp"], cer=True) for it in items] if cer else None
    out = _aggregate(range(len(items)), word, char)
    if by is not None:
        members: Dict[str, List[int]] = defaultdict(list)
        if any(by in item for item in items):
            for n, item in enumerate(items):
                members[group_of(item, by)].append(n)
        out[f"per_{by}"] = {g: _aggregate(members[g], word, char) for g in sorted(members)}
    return out


def _aggregate(
    indices: Iterable[int], word: List[WerStats], char: Optional[List[WerStats]]
) -> Dict[str, Union[int, float]]:
    indices = list(indices)
    word_sum = sum((word[n] for n in indices), WerStats())
    char_sum = sum((char[n] for n in indices), WerStats()) if char is not None else None
    return stats_dict(word_sum, len(indices), char_sum)


_WORD_KEYS = ("wer", "errors", "words", "ins", "del", "sub")
_CHAR_KEYS = ("cer", "char_errors", "chars", "char_ins", "char_del", "char_sub")


def _rate_line(name: str, stats: Mapping, keys: Sequence[str]) -> str:
    rate, errors, total, ins, dels, subs = (stats[k] for k in keys)
    return f"%{name} {rate:.2f} [ {errors} / {total}, {ins} ins, {dels} del, {subs} sub ]"


def _header(stats: Mapping) -> List[str]:
    lines = [_rate_line("WER", stats, _WORD_KEYS)]
    if "cer" in stats:
        lines.append(_rate_line("CER", stats, _CHAR_KEYS))
    for key, groups in stats.items():
        if key.startswith("per_") and isinstance(groups, Mapping):
            lines += [_rate_line(f"WER[{g}]", groups[g], _WORD_KEYS) for g in groups]
    skipped = stats.get("skipped")
    if isinstance(skipped, Mapping) and skipped.get("count"):
        reasons = " ".join(f"{r}={n}" for r, n in skipped.get("reasons", {}).items())
        lines.append(
            f"%SKIPPED {skipped['count']} of {stats.get('utts', '?')} utterances [ {reasons} ], "
            f"scored as {stats.get('skipped_rule', 'deleted')}"
        )
    return lines


def format_errs(items: Sequence[Mapping], stats: Mapping, cer: bool = False) -> str:
    """The text of an ``errs-<test_set>.txt`` file (see :func:`write_errs`)."""
    check_items(items)
    subs: Counter = Counter()
    dels: Counter = Counter()
    ins: Counter = Counter()
    # per unit: correct, errors as reference unit, errors as hypothesis unit, in ref, in hyp
    per_word: Dict[str, List[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    unit = "characters (whitespace removed)" if cer else "words"
    lines = _header(stats) + [
        "",
        f"PER-UTTERANCE ALIGNMENTS over {unit}: (ref->hyp) substitution, (*->hyp) insertion, "
        "(ref->*) deletion",
    ]
    for item in sorted(items, key=lambda it: it["id"]):
        ref, hyp = text_units(item["ref"], cer), text_units(item["hyp"], cer)
        eps = free_eps(ref, hyp)
        shown = []
        for r, h in align(ref, hyp, eps):
            if r == h:
                shown.append(r)
                per_word[r][0] += 1
                per_word[r][3] += 1
                per_word[r][4] += 1
                continue
            shown.append(f"({r}->{h})")
            if r == eps:
                ins[h] += 1
            elif h == eps:
                dels[r] += 1
            else:
                subs[(r, h)] += 1
            if r != eps:
                per_word[r][1] += 1
                per_word[r][3] += 1
            if h != eps:
                per_word[h][2] += 1
                per_word[h][4] += 1
        mark = f"\t[skipped: {item['skipped']}]" if item.get("skipped") else ""
        lines.append(f"{item['id']}:\t{' '.join(shown)}{mark}")
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{c}   {r} -> {h}" for (r, h), c in _most_frequent(subs)]
    lines += ["", "DELETIONS: count ref"]
    lines += [f"{c}   {r}" for r, c in _most_frequent(dels)]
    lines += ["", "INSERTIONS: count hyp"]
    lines += [f"{c}   {h}" for h, c in _most_frequent(ins)]
    lines += ["", "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp"]
    totals = Counter({w: v[1] + v[2] for w, v in per_word.items()})
    for w, errs in _most_frequent(totals):
        corr, _, _, in_ref, in_hyp = per_word[w]
        lines.append(f"{w}   {corr} {errs} {in_ref} {in_hyp}")
    return "\n".join(lines) + "\n"


def _most_frequent(counts: Counter) -> List[tuple]:
    """(key, count) by count descending, ties by key, so the file is deterministic."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def write_errs(path: Pathlike, items: Sequence[Mapping], stats: Mapping, cer: bool = False) -> None:
    """Writes an ``errs-<test_set>.txt`` report (atomically).

    Layout: ``%WER x.xx [ errors / words, N ins, N del, N sub ]`` (from ``stats``, a
    :func:`score_utterances` dict; ``%CER`` and per-group lines too where it has them, and
    ``%SKIPPED n of utts utterances [ reason=n ... ], scored as <rule>`` when ``stats`` counts
    skipped utterances), then one line per utterance, sorted by id, ``id:<TAB>aligned text``
    (``<TAB>[skipped: <reason>]`` after an utterance that was not decoded) with ``(ref->hyp)``,
    ``(*->hyp)`` and ``(ref->*)`` marking errors, then the sections SUBSTITUTIONS,
    DELETIONS, INSERTIONS and PER-WORD STATS, most frequent first. With ``cer`` the
    alignments and sections are over characters (whitespace removed) instead of words.
    """
    atomic_write_text(path, format_errs(items, stats, cer))
