"""n-gram language models: Kneser-Ney ARPA with kaldingram, FST text with kaldilm, k2 G.

:func:`make_lms` is the LM step of a lang dir: an ARPA and a G for the first-pass and the
rescoring order, named by :class:`~xlsr.graph.lang_dir.LangDir`, and the orders recorded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union

from xlsr.graph.lang_dir import LangDir

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]


def train_arpa(
    text: Pathlike, arpa: Pathlike, order: int, prune_threshold: Optional[float] = None
) -> Path:
    """Trains a Kneser-Ney ``order``-gram on ``text`` (one sentence per line) into ``arpa``,
    entropy-pruned with ``prune_threshold`` when given (kaldingram train / prune)."""
    from kaldingram import cli

    text, arpa = Path(text), Path(arpa)
    if not text.exists() or text.stat().st_size == 0:
        raise FileNotFoundError(f"{text}: LM training text is missing or empty")
    arpa.parent.mkdir(parents=True, exist_ok=True)
    raw = arpa if prune_threshold is None else arpa.with_suffix(".unpruned.arpa")
    cli.main(["train", "--ngram-order", str(order), "--text", str(text), "--lm", str(raw)])
    if prune_threshold is not None:
        prune = ["prune", "--threshold", str(prune_threshold), "--lm", str(raw)]
        cli.main([*prune, "--write-lm", str(arpa)])
    logger.info("%s: %s", arpa, arpa_counts(arpa))
    return arpa


def arpa_counts(arpa: Pathlike) -> dict:
    """{order: number of n-grams} from the ARPA header."""
    counts = {}
    with open(arpa, encoding="utf-8") as f:
        for line in f:
            if line.startswith("ngram "):
                n, c = line[6:].split("=")
                counts[int(n)] = int(c)
            elif line.startswith("\\1-grams"):
                break
    return counts


def arpa_to_fst_text(arpa: Pathlike, words_txt: Pathlike, max_order: int = -1) -> str:
    """OpenFst text of G (word ids; ``#0`` on the input side of back-off arcs, <s>/</s>
    as epsilons), through kaldilm's arpa2fst. Every ARPA word must be in ``words_txt``."""
    import kaldilm

    try:
        return kaldilm.arpa2fst(
            input_arpa=str(arpa),
            disambig_symbol="#0",
            read_symbol_table=str(words_txt),
            max_order=max_order,
        )
    except Exception as e:  # kaldilm raises RuntimeError with Kaldi's message
        raise RuntimeError(f"{arpa}: arpa2fst failed with words {words_txt}: {e}") from e


def make_G(arpa: Pathlike, words_txt: Pathlike, out_pt: Pathlike, max_order: int = -1):
    """Builds G as a k2 FSA (word:word, ``#0`` on back-off input) and saves it to ``out_pt``."""
    import torch

    from xlsr.graph.k2_utils import require_k2

    k2 = require_k2("building G")
    G = k2.Fsa.from_openfst(arpa_to_fst_text(arpa, words_txt, max_order), acceptor=False)
    torch.save(G.as_dict(), out_pt)
    logger.info("%s: %d states, %d arcs", out_pt, G.shape[0], G.num_arcs)
    return G


def make_lms(
    lang_dir: Pathlike,
    text: Pathlike,
    first_pass_order: int,
    rescore_order: int,
    prune_threshold: Optional[float] = None,
) -> LangDir:
    """Trains ``lm/<N>gram.arpa`` on ``text`` and builds ``G_<N>_gram.pt`` (needs k2; without
    it only the ARPA, with a warning) for the first-pass and the rescoring order, then records
    both orders in ``lm_orders.json``.

    Args:
        lang_dir: A lang dir with ``words.txt`` (every word of ``text`` must be in it).
        text: LM training text, one sentence per line.
        first_pass_order: The order of the G that LG/HLG are compiled from.
        rescore_order: The order of the G of the rescoring methods (may equal the first).
        prune_threshold: kaldingram entropy pruning threshold; None: no pruning.

    Returns:
        LangDir: the lang dir.
    """
    from xlsr.graph.k2_utils import has_k2

    lang = LangDir(lang_dir)
    words = lang.require(lang.words)
    for order in sorted({first_pass_order, rescore_order}):
        arpa = train_arpa(text, lang.arpa(order), order, prune_threshold)
        if has_k2():
            make_G(arpa, words, lang.G(order))
        else:
            logger.warning("k2 is not installed: %s built, %s not", arpa, lang.G(order).name)
    lang.write_orders(first_pass_order, rescore_order)
    logger.info(
        "%s: first-pass order %d, rescoring order %d",
        lang.orders_file,
        first_pass_order,
        rescore_order,
    )
    return lang
