"""n-best search on word lattices, shared by the CTC (HLG) and transducer (LG) decoders:
sample paths, keep each utterance's distinct word sequences, pick the best by a score."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, List, Tuple

import torch
from torch import Tensor

from xlsr.graph.k2_utils import require_k2

if TYPE_CHECKING:
    import k2

logger = logging.getLogger(__name__)
WordSeq = Tuple[int, ...]


def check_nbest_args(method: str, num_paths: int, nbest_scale: float) -> None:
    if num_paths < 1:
        raise ValueError(f"{method}: num_paths must be >= 1, got {num_paths}")
    if nbest_scale <= 0:
        raise ValueError(f"{method}: nbest_scale must be > 0, got {nbest_scale}")


def sample_word_seqs(lattice: k2.Fsa, num_paths: int, nbest_scale: float) -> List[List[WordSeq]]:
    """Distinct word sequences of ``num_paths`` paths sampled from each lattice.

    Paths are drawn with probability proportional to exp(nbest_scale * score) (k2.random_paths
    is deterministic, arithmetic-coding-like). Duplicates are removed exactly, in Python
    (k2's RaggedTensor.unique hashes and may drop colliding sequences).
    """
    k2 = require_k2("n-best decoding")
    saved = lattice.scores.clone()
    lattice.scores = saved * nbest_scale  # flatter distribution -> more distinct paths
    try:
        paths = k2.random_paths(lattice, use_double_scores=True, num_paths=num_paths)
    finally:
        lattice.scores = saved
    aux = lattice.aux_labels  # [utt][path][arc] -> [utt][path][word]
    if isinstance(aux, torch.Tensor):
        words = k2.RaggedTensor(paths.shape, aux[paths.values.long()])
    else:
        words = aux.index(paths).remove_axis(2)
    words = words.remove_values_leq(0).tolist()
    seqs = [list(dict.fromkeys(tuple(p) for p in utt)) for utt in words]
    logger.debug(
        "n-best: %s distinct word sequences of %d paths", [len(u) for u in seqs], num_paths
    )
    return seqs


def pick_best(seqs: List[List[WordSeq]], scores: Tensor) -> List[List[int]]:
    """The highest-scoring sequence of each utterance; ``scores`` follows flattened ``seqs``."""
    out, start = [], 0
    for utt in seqs:
        if not utt:  # empty lattice: nothing survived the beams
            out.append([])
            continue
        best = int(torch.argmax(scores[start : start + len(utt)]))
        out.append(list(utt[best]))
        start += len(utt)
    return out
