"""n-gram language models: Kneser-Ney ARPA with kaldingram, FST text with kaldilm, k2 G."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union

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
        cli.main(["prune", "--threshold", str(prune_threshold), "--lm", str(raw),
                  "--write-lm", str(arpa)])  # fmt: skip
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
