"""Best paths through decoding graphs: k2 lattices and, independently, kaldi-decoder.

Both take CTC log-posteriors (frames x tokens, token 0 = blank) and a graph whose labels are
tokens and whose output labels are words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from xlsr.graph.k2_utils import require_k2


def check_batch(method: str, x: Tensor, lengths, names: Tuple[str, str, str]) -> Tensor:
    """Checks a decoding batch: ``x`` (batch, frames, channels) and ``lengths`` (batch,)
    integer frame counts in [1, frames]; returns ``lengths`` as a 1-D int64 CPU tensor.

    Args:
        method: named first in every error message.
        names: (name of x, name of its last axis, name of lengths) for the messages, e.g.
            ("log_probs", "tokens", "lengths").
    """
    x_name, channels, len_name = names
    if not isinstance(x, Tensor) or x.dim() != 3:
        found = tuple(x.shape) if isinstance(x, Tensor) else type(x)
        raise ValueError(f"{method}: {x_name} must be (batch, frames, {channels}), got {found}")
    lengths = torch.as_tensor(lengths).cpu()
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0]:
        raise ValueError(
            f"{method}: {len_name} must be (batch,) = ({x.shape[0]},), got {tuple(lengths.shape)}"
        )
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(
            f"{method}: {len_name} must hold integer frame counts, got {lengths.dtype}"
        )
    frames = x.shape[1]
    if lengths.numel() and (lengths.min() < 1 or lengths.max() > frames):
        raise ValueError(
            f"{method}: {len_name} must lie in [1, {frames}] (frames of {x_name}), got "
            f"{lengths.tolist()}"
        )
    return lengths.long()


@dataclass
class SearchConfig:
    search_beam: float = 20.0  # icefall --search-beam
    output_beam: float = 8.0  # icefall --output-beam
    min_active_states: int = 30
    max_active_states: int = 10000  # icefall --max-active-states


def k2_lattice(graph, log_probs: Tensor, lengths: Tensor, cfg: Optional[SearchConfig] = None):
    """Lattice of ``graph`` o posteriors with k2.intersect_dense_pruned.

    Args:
        log_probs (Tensor): (batch, frames, tokens) log-softmax output.
        lengths (Tensor): (batch,) valid frames.
    """
    k2 = require_k2("lattice decoding")
    cfg = cfg or SearchConfig()
    b = log_probs.shape[0]
    segments = torch.stack(
        [torch.arange(b), torch.zeros(b, dtype=torch.long), lengths.cpu().long()], dim=1
    ).to(torch.int32)
    order = torch.argsort(segments[:, 2], descending=True)  # k2 wants decreasing durations
    dense = k2.DenseFsaVec(log_probs, segments[order])
    lattice = k2.intersect_dense_pruned(
        graph,
        dense,
        cfg.search_beam,
        cfg.output_beam,
        cfg.min_active_states,
        cfg.max_active_states,
    )
    return lattice, order


def restore_order(results: list, order: Tensor) -> list:
    """``results[i]`` belongs to utterance ``order[i]``; returns them in utterance order."""
    out: list = [None] * len(results)
    for pos, idx in enumerate(order.tolist()):
        out[idx] = results[pos]
    return out


def path_ids(paths, ids) -> List[List[int]]:
    """The positive ``ids`` (per arc: a tensor, or ragged with any number per arc) along each
    FSA of ``paths`` (linear FSAs); [] for an empty FSA."""
    k2 = require_k2("decoding")
    shape = paths.arcs.shape().remove_axis(1)  # [fsa][arc]
    if isinstance(ids, k2.RaggedTensor):  # [arc][id] -> [fsa][arc][id] -> [fsa][id]
        shape, ids = shape.compose(ids.shape).remove_axis(1), ids.values
    return k2.RaggedTensor(shape, ids.clone()).remove_values_leq(0).tolist()


def best_path_words(lattice, order: Tensor, ids: str = "aux_labels") -> List[List[int]]:
    """Positive ``ids`` (an arc attribute, words by default) along each lattice's best path,
    in the original batch order; [] where a lattice is empty. (All paths are read at once:
    indexing one FSA of an empty lattice aborts in k2 1.23.4.)"""
    k2 = require_k2("lattice decoding")
    best = k2.shortest_path(lattice, use_double_scores=True)
    return restore_order(path_ids(best, getattr(best, ids)), order)


def kaldi_best_path(
    fst_or_path: Union[str, object],
    log_probs: np.ndarray,
    beam: float = 20.0,
    max_active: int = 10000,
) -> List[int]:
    """Word ids of the best path of one utterance through an OpenFst HLG (kaldi-decoder).

    Args:
        log_probs: (frames, tokens) float32 log-posteriors; the graph's input label i means
            token i - 1 (0 is epsilon), as :func:`xlsr.graph.compile.write_hlg_fst` writes.
    """
    import kaldi_decoder
    import kaldifst

    fst = kaldifst.StdVectorFst.read(fst_or_path) if isinstance(fst_or_path, str) else fst_or_path
    opts = kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active)
    decoder = kaldi_decoder.FasterDecoder(fst, opts)
    decoder.decode(kaldi_decoder.DecodableCtc(np.ascontiguousarray(log_probs, dtype=np.float32)))
    ok, lattice = decoder.get_best_path()
    if not ok:
        return []
    ok, _, osymbols, _ = kaldifst.get_linear_symbol_sequence(lattice)
    return [w for w in osymbols if w > 0]
