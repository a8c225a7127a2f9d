"""Token targets of transcripts: the lang dir's text normaliser, then its tokenizer.

Training, LM building and scoring read text through the same :class:`TextNormalizer`
(``<lang_dir>/text_norm.json``). Symbols the tokenizer does not know (another script, emoji,
a literal ``<blk>``) become ``<unk>``; :func:`scan_unknown_symbols` counts them over a
manifest before training, with examples, and can drop the utterances that contain them.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import List, Tuple, Union

from lhotse import CutSet
from lhotse.cut import Cut

from xlsr.data.cuts import cut_text
from xlsr.data.text_norm import TextNormalizer
from xlsr.data.tokenizer import Tokenizer

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
UNKNOWN_POLICIES = ("keep", "drop")


class CutTargets:
    """``cut -> token ids`` of its normalised transcript (per-language tokenizers use the
    cut's language). Picklable for DataLoader workers.

    Args:
        tokenizer: the lang dir's tokenizer.
        normalizer: the lang dir's text normaliser.
    """

    def __init__(self, tokenizer: Tokenizer, normalizer: TextNormalizer) -> None:
        self.tokenizer, self.normalizer = tokenizer, normalizer

    @classmethod
    def from_lang_dir(cls, lang_dir: Pathlike) -> CutTargets:
        lang_dir = Path(lang_dir)
        return cls(Tokenizer(lang_dir / "tokenizer"), TextNormalizer.load(lang_dir))

    def checked(self, cut: Cut) -> Tuple[List[int], List[str]]:
        """(token ids, unknown symbols) of the cut's transcript."""
        language = cut.supervisions[0].language if cut.supervisions else None
        return self.tokenizer.encode_checked(self.normalizer(cut_text(cut)), language)

    def __call__(self, cut: Cut) -> List[int]:
        return self.checked(cut)[0]


def scan_unknown_symbols(
    cuts: CutSet, targets: CutTargets, policy: str = "keep", name: str = "cuts"
) -> Tuple[CutSet, Counter]:
    """Counts transcripts with unknown symbols and reports them (count, symbols, examples).

    Args:
        cuts: the manifest (text only is read).
        targets: the lang dir's targets.
        policy: "keep" (the symbols train as ``<unk>``) or "drop" (the utterances go).
        name: what ``cuts`` is, for the log (e.g. the manifest path).

    Returns:
        (CutSet, Counter): the cuts to use (lazy when ``cuts`` is: "drop" then filters them
        as they are read, nothing is held in memory), and unknown symbol -> occurrences.
    """
    if policy not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown_symbols must be one of {UNKNOWN_POLICIES}, got {policy!r}")
    lazy = bool(cuts.is_lazy)
    kept, symbols, examples, affected = [], Counter(), [], 0
    for cut in cuts:
        unknown = targets.checked(cut)[1] if cut.supervisions else []
        if unknown:
            affected += 1
            symbols.update(unknown)
            if len(examples) < 3:
                examples.append(f"{cut.id}: {cut_text(cut)!r}")
            if policy == "drop":
                continue
        if not lazy:
            kept.append(cut)
    if affected:
        action = "dropped" if policy == "drop" else "kept, the symbols become <unk>"
        top = ", ".join(f"{s!r} x{n}" for s, n in symbols.most_common(10))
        logger.warning(
            "%s: %d utterance(s) with symbols the tokenizer does not know (%s): %s; e.g. %s "
            "(unknown_symbols=drop drops them; or rebuild the lang dir with this text)",
            name,
            affected,
            action,
            top,
            "; ".join(examples),
        )
    if lazy:
        return (cuts.filter(KnownSymbols(targets)) if policy == "drop" else cuts), symbols
    return CutSet.from_cuts(kept), symbols


class KnownSymbols:
    """Whether a cut's transcript has only symbols the tokenizer knows (a lazy filter)."""

    def __init__(self, targets: CutTargets) -> None:
        self.targets = targets

    def __call__(self, cut: Cut) -> bool:
        return not (cut.supervisions and self.targets.checked(cut)[1])
