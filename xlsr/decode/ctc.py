"""CTC decoding methods (the ones icefall's ``decode.py --method`` offers) as library functions.

Every method takes a batch of CTC log-posteriors and returns one result per utterance, in the
order of the batch (k2 lattices are built longest-first inside; results are put back):

    log_probs (Tensor): (batch, frames, tokens) log-softmax output, token 0 = blank.
    lengths (Tensor): (batch,) valid frames per utterance, 1 <= length <= frames.

| method                          | graph    | result                                  | k2  |
|---------------------------------|----------|-----------------------------------------|-----|
| :func:`greedy_search`           | -        | token ids (argmax, collapse, no blank)  | no  |
| :func:`ctc_decoding`            | H        | token ids (best path through H)         | yes |
| :func:`one_best`                | HLG      | word ids (best path of the lattice)     | yes |
| :func:`nbest`                   | HLG      | word ids (best of the sampled paths)    | yes |
| :func:`nbest_rescoring`         | HLG, G4  | {"lm_scale_<s>": word ids}              | yes |
| :func:`whole_lattice_rescoring` | HLG, G4  | {"lm_scale_<s>": word ids}              | yes |

HLG's labels are tokens and its aux_labels words (:func:`xlsr.graph.compile.compile_hlg`); the
rescoring methods take G4 from :func:`prepare_rescoring_G`. Graphs must be on the device of
``log_probs`` (k2's ``intersect_device`` is meant for GPU; on CPU it is slow but fine for
small lattices).

LM scores are best paths through G with back-off arcs as plain epsilon arcs (the Kaldi and
icefall approximation): where a back-off weight is positive, which Kneser-Ney gives on small
texts, a backed-off path can beat the explicit n-gram, and the score exceeds the ARPA one.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from xlsr.decode.graph_search import (
    SearchConfig,
    best_path_words,
    check_batch,
    k2_lattice,
    restore_order,
)
from xlsr.decode.nbest import WordSeq, check_nbest_args, pick_best, sample_word_seqs
from xlsr.graph.k2_utils import require_k2

if TYPE_CHECKING:
    import k2

logger = logging.getLogger(__name__)


def _check_inputs(method: str, log_probs: Tensor, lengths) -> Tensor:
    """Checks the batch; returns ``lengths`` as a 1-D int64 CPU tensor."""
    return check_batch(method, log_probs, lengths, ("log_probs", "tokens", "lengths"))


def _check_lm_scales(method: str, lm_scales: Sequence[float]) -> List[float]:
    scales = [float(s) for s in lm_scales]
    if not scales:
        raise ValueError(f"{method}: lm_scales is empty; give at least one scale, e.g. [0.5]")
    if min(scales) < 0:
        raise ValueError(f"{method}: lm_scales must be >= 0, got {scales}")
    return scales


def _check_graph(method: str, name: str, graph: k2.Fsa, log_probs: Tensor) -> None:
    if graph.device != log_probs.device:
        raise ValueError(
            f"{method}: {name} is on {graph.device} but log_probs on {log_probs.device}; "
            f"move it with {name}.to(device)"
        )


def _check_G(method: str, G4: k2.Fsa, log_probs: Tensor) -> None:
    if len(G4.shape) != 3 or G4.shape[0] != 1 or not hasattr(G4, "lm_scores"):
        raise ValueError(
            f"{method}: G4 must be a one-FSA FsaVec with lm_scores (got shape {G4.shape}); "
            "prepare it with prepare_rescoring_G"
        )
    _check_graph(method, "G4", G4, log_probs)


def greedy_search(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> List[List[int]]:
    """Greedy CTC decoding: argmax per frame, repeats collapsed, blanks dropped (no k2).

    Args:
        log_probs (Tensor): (batch, frames, tokens) log-posteriors (or any scores).
        lengths (Tensor): (batch,) valid frames.
        blank: the blank token id.

    Returns:
        Token ids per utterance, in batch order.
    """
    lengths = _check_inputs("greedy_search", log_probs, lengths)
    best = log_probs.argmax(dim=-1).cpu()  # (batch, frames)
    out = []
    for b, n in enumerate(lengths.tolist()):
        ids = torch.unique_consecutive(best[b, :n]).tolist()
        out.append([i for i in ids if i != blank])
    return out


@functools.lru_cache(maxsize=8)
def _ctc_topo(max_token_id: int, modified: bool, device: str) -> k2.Fsa:
    k2 = require_k2("ctc_decoding")
    return k2.arc_sort(k2.ctc_topo(max_token_id, modified=modified, device=torch.device(device)))


def ctc_decoding(
    log_probs: Tensor,
    lengths: Tensor,
    max_token_id: int,
    cfg: Optional[SearchConfig] = None,
    modified: bool = False,
) -> List[List[int]]:
    """Token-level decoding through the CTC topology H alone (no lexicon, no LM).

    The best path of H o posteriors; H's aux_labels are tokens, emitted once per run of a
    token, so the path's non-zero aux_labels are the token sequence.

    Args:
        log_probs (Tensor): (batch, frames, tokens) log-softmax output.
        lengths (Tensor): (batch,) valid frames.
        max_token_id: largest token id of H (tokens 1..max_token_id, no disambig symbols);
            must be < tokens.
        cfg: beams of the pruned intersection.
        modified: k2's modified CTC topology (as the HLG was built with).

    Returns:
        Token ids per utterance, in batch order.
    """
    require_k2("ctc_decoding")
    lengths = _check_inputs("ctc_decoding", log_probs, lengths)
    if not 1 <= max_token_id < log_probs.shape[-1]:
        raise ValueError(
            f"ctc_decoding: max_token_id must be in [1, {log_probs.shape[-1] - 1}] for "
            f"{log_probs.shape[-1]} tokens, got {max_token_id}"
        )
    H = _ctc_topo(int(max_token_id), bool(modified), str(log_probs.device))
    lattice, order = k2_lattice(H, log_probs.float(), lengths, cfg)
    return best_path_words(lattice, order)


def one_best(
    HLG: k2.Fsa, log_probs: Tensor, lengths: Tensor, cfg: Optional[SearchConfig] = None
) -> List[List[int]]:
    """Word ids of the best path of each HLG lattice (icefall ``1best``).

    Args:
        HLG (k2.Fsa): decoding graph, labels tokens, aux_labels words.
        log_probs (Tensor): (batch, frames, tokens) log-softmax output.
        lengths (Tensor): (batch,) valid frames.
        cfg: beams of the pruned intersection.

    Returns:
        Word ids per utterance, in batch order ([] where the lattice is empty).
    """
    require_k2("one_best")
    lengths = _check_inputs("one_best", log_probs, lengths)
    _check_graph("one_best", "HLG", HLG, log_probs)
    lattice, order = k2_lattice(HLG, log_probs.float(), lengths, cfg)
    return best_path_words(lattice, order)


def _fsa_sums(fsas: k2.Fsa, values: Tensor) -> Tensor:
    """Per-FSA sums of a per-arc tensor (for linear FSAs: the path's total)."""
    shape = fsas.arcs.shape()
    fsa_of_arc = shape.row_ids(1)[shape.row_ids(2).long()].long()
    out = torch.zeros(fsas.shape[0], dtype=torch.float64, device=values.device)
    return out.index_add_(0, fsa_of_arc, values.double())


def _best_alignments(lattice: k2.Fsa, seqs: List[List[WordSeq]]) -> k2.Fsa:
    """For each word sequence, the best path of its utterance's lattice that says it.

    The lattice is inverted (words become labels, extra epsilon arcs where an arc has no or
    several words), and each word sequence, as a linear FSA with epsilon self-loops, is
    intersected with its utterance's inverted lattice. Returns linear FSAs, one per sequence
    in ``seqs`` order (flattened), with the lattice's scores and other attributes.
    """
    k2 = require_k2("n-best decoding")
    device = lattice.device
    flat = [list(s) for utt in seqs for s in utt]
    seq_to_utt = [u for u, utt in enumerate(seqs) for _ in utt]
    word_fsas = k2.add_epsilon_self_loops(k2.linear_fsa(flat, device))
    inv = k2.arc_sort(k2.invert(lattice))
    b_to_a = torch.tensor(seq_to_utt, dtype=torch.int32, device=device)
    restricted = k2.intersect_device(inv, word_fsas, b_to_a, sorted_match_a=True)
    restricted = k2.top_sort(k2.connect(restricted))
    return k2.shortest_path(restricted, use_double_scores=True)


def nbest(
    HLG: k2.Fsa,
    log_probs: Tensor,
    lengths: Tensor,
    cfg: Optional[SearchConfig] = None,
    num_paths: int = 100,
    nbest_scale: float = 0.5,
) -> List[List[int]]:
    """n-best decoding (icefall ``nbest``): the best of the word sequences on sampled paths.

    1. Lattice = HLG o posteriors (pruned).
    2. ``num_paths`` paths are sampled per lattice with k2.random_paths on the scores scaled by
       ``nbest_scale`` (< 1 flattens the distribution so more distinct paths come out), and
       reduced to their distinct word sequences.
    3. Each word sequence is intersected back with its lattice; its score is the best path
       (tropical total, unscaled) among the lattice paths with that word sequence.
    4. The sequence with the highest score wins. Unlike 1best this ranks word sequences, not
       alignments, but only among the sampled ones.

    Args:
        HLG (k2.Fsa): decoding graph, labels tokens, aux_labels words.
        log_probs (Tensor): (batch, frames, tokens) log-softmax output.
        lengths (Tensor): (batch,) valid frames.
        cfg: beams of the pruned intersection.
        num_paths: paths sampled per utterance (icefall --num-paths).
        nbest_scale: scale of lattice scores for sampling (icefall --nbest-scale).

    Returns:
        Word ids per utterance, in batch order.
    """
    require_k2("nbest")
    lengths = _check_inputs("nbest", log_probs, lengths)
    _check_graph("nbest", "HLG", HLG, log_probs)
    check_nbest_args("nbest", num_paths, nbest_scale)
    lattice, order = k2_lattice(HLG, log_probs.float(), lengths, cfg)
    seqs = sample_word_seqs(lattice, num_paths, nbest_scale)
    if not any(seqs):
        return [[] for _ in seqs]
    best = _best_alignments(lattice, seqs)
    return restore_order(pick_best(seqs, _fsa_sums(best, best.scores)), order)


def _with_lm_scores(HLG: k2.Fsa) -> k2.Fsa:
    """HLG with ``lm_scores`` (its first-pass LM scores): itself if it has them, else a copy.

    Set ``HLG.lm_scores = HLG.scores.clone()`` once to avoid a copy per call.
    """
    if hasattr(HLG, "lm_scores"):
        return HLG
    graph = HLG.clone()
    graph.lm_scores = graph.scores.clone()
    return graph


def _lm_scores_of(G4: k2.Fsa, seqs: List[List[WordSeq]]) -> Tensor:
    """G4 score of each word sequence (flattened ``seqs`` order): its best path through G4,
    the log-probability up to the back-off approximation (module notes); -inf where G4
    cannot say it. The words get epsilon self-loops so that G4's back-off arcs match."""
    k2 = require_k2("n-best rescoring")
    flat = [list(s) for utt in seqs for s in utt]
    word_fsas = k2.add_epsilon_self_loops(k2.linear_fsa(flat, G4.device))
    b_to_a = torch.zeros(len(flat), dtype=torch.int32, device=G4.device)
    composed = k2.intersect_device(G4, word_fsas, b_to_a, sorted_match_a=True)
    # eps self-loop x eps self-loop gives self-loops; they add nothing and break top_sort
    composed = k2.top_sort(k2.connect(k2.remove_epsilon_self_loops(composed)))
    return composed.get_tot_scores(use_double_scores=True, log_semiring=False)


def nbest_rescoring(
    HLG: k2.Fsa,
    G4: k2.Fsa,
    log_probs: Tensor,
    lengths: Tensor,
    cfg: Optional[SearchConfig] = None,
    lm_scales: Sequence[float] = (0.5,),
    num_paths: int = 100,
    nbest_scale: float = 0.5,
) -> Dict[str, List[List[int]]]:
    """n-best rescoring with a larger LM (icefall ``nbest-rescoring``).

    The word sequences of :func:`nbest` are rescored: each gets its acoustic score (the best
    alignment's score minus its first-pass LM score, i.e. ``scores - lm_scores`` along it)
    plus ``lm_scale`` times its log-probability under G4; the best sequence wins per scale.

    Args:
        HLG (k2.Fsa): decoding graph; ``lm_scores`` is set on a copy where missing.
        G4 (k2.Fsa): the rescoring LM from :func:`prepare_rescoring_G`.
        log_probs (Tensor): (batch, frames, tokens) log-softmax output.
        lengths (Tensor): (batch,) valid frames.
        cfg: beams of the pruned intersection.
        lm_scales: scales of the G4 score, one result per scale.
        num_paths, nbest_scale: as in :func:`nbest`.

    Returns:
        {"lm_scale_<scale>": word ids per utterance in batch order}.
    """
    require_k2("nbest_rescoring")
    lengths = _check_inputs("nbest_rescoring", log_probs, lengths)
    scales = _check_lm_scales("nbest_rescoring", lm_scales)
    check_nbest_args("nbest_rescoring", num_paths, nbest_scale)
    _check_G("nbest_rescoring", G4, log_probs)
    _check_graph("nbest_rescoring", "HLG", HLG, log_probs)
    lattice, order = k2_lattice(_with_lm_scores(HLG), log_probs.float(), lengths, cfg)
    seqs = sample_word_seqs(lattice, num_paths, nbest_scale)
    if not any(seqs):
        return {f"lm_scale_{s}": [[] for _ in seqs] for s in scales}
    best = _best_alignments(lattice, seqs)
    am = _fsa_sums(best, best.scores) - _fsa_sums(best, best.lm_scores)
    lm = _lm_scores_of(G4, seqs).to(am.device)
    return {f"lm_scale_{s}": restore_order(pick_best(seqs, am + s * lm), order) for s in scales}


def whole_lattice_rescoring(
    HLG: k2.Fsa,
    G4: k2.Fsa,
    log_probs: Tensor,
    lengths: Tensor,
    cfg: Optional[SearchConfig] = None,
    lm_scales: Sequence[float] = (0.5,),
) -> Dict[str, List[List[int]]]:
    """Whole-lattice rescoring with a larger LM (icefall ``whole-lattice-rescoring``).

    The first-pass LM scores are removed from the lattice (leaving acoustic scores), the
    lattice is inverted so words are its labels and intersected with G4 (whose epsilon
    self-loops let the lattice's word-less arcs through and whose back-off arcs can be taken
    at any of them), and per scale the best path of ``am + lm_scale * lm`` is taken.
    Large lattices can make the intersection big: narrow ``cfg.output_beam`` if it does.

    Args:
        HLG (k2.Fsa): decoding graph; ``lm_scores`` is set on a copy where missing.
        G4 (k2.Fsa): the rescoring LM from :func:`prepare_rescoring_G`.
        log_probs (Tensor): (batch, frames, tokens) log-softmax output.
        lengths (Tensor): (batch,) valid frames.
        cfg: beams of the pruned intersection.
        lm_scales: scales of the G4 score, one result per scale.

    Returns:
        {"lm_scale_<scale>": word ids per utterance in batch order}.
    """
    k2 = require_k2("whole_lattice_rescoring")
    lengths = _check_inputs("whole_lattice_rescoring", log_probs, lengths)
    scales = _check_lm_scales("whole_lattice_rescoring", lm_scales)
    _check_G("whole_lattice_rescoring", G4, log_probs)
    _check_graph("whole_lattice_rescoring", "HLG", HLG, log_probs)
    lattice, order = k2_lattice(_with_lm_scores(HLG), log_probs.float(), lengths, cfg)
    lattice.scores = lattice.scores - lattice.lm_scores
    del lattice.lm_scores  # else intersect would add it to G4's lm_scores
    inv = k2.invert(lattice)
    b_to_a = torch.zeros(inv.shape[0], dtype=torch.int32, device=inv.device)
    rescored = k2.intersect_device(G4, inv, b_to_a, sorted_match_a=True)
    rescored = k2.top_sort(k2.connect(rescored))
    am, lm = rescored.scores - rescored.lm_scores, rescored.lm_scores.clone()
    out = {}
    for s in scales:
        rescored.scores = am + s * lm
        out[f"lm_scale_{s}"] = best_path_words(rescored, order, "labels")  # labels: G's words
    return out


def prepare_rescoring_G(G_fsa: k2.Fsa, first_word_disambig_id: int) -> k2.Fsa:
    """G (words) ready for rescoring: an arc-sorted one-FSA acceptor FsaVec with epsilon
    self-loops and ``lm_scores`` (= its scores).

    Disambiguation symbols (ids >= ``first_word_disambig_id``, i.e. ``#0`` in words.txt; also
    ``<s>``/``</s>`` after it) become epsilon, so the back-off arcs are epsilon arcs.

    Args:
        G_fsa (k2.Fsa): G as made by :func:`xlsr.graph.lm.make_G` (single FSA or one-FSA
            FsaVec); not modified.
        first_word_disambig_id: id of ``#0`` in words.txt.
    """
    k2 = require_k2("prepare_rescoring_G")
    if len(G_fsa.shape) == 3:
        if G_fsa.shape[0] != 1:
            raise ValueError(f"prepare_rescoring_G: expected one FSA, got {G_fsa.shape[0]}")
        G_fsa = G_fsa[0]
    if first_word_disambig_id < 1:
        raise ValueError(
            f"prepare_rescoring_G: first_word_disambig_id must be >= 1, got "
            f"{first_word_disambig_id}"
        )
    G = G_fsa.clone()
    if hasattr(G, "aux_labels"):
        del G.aux_labels
    labels = G.labels.clone()
    labels[labels >= first_word_disambig_id] = 0
    G.labels = labels
    G = k2.Fsa.from_fsas([G])
    G = k2.arc_sort(k2.add_epsilon_self_loops(G))
    G.lm_scores = G.scores.clone()
    return G


def ids_to_words(ids: Sequence[int], word_table_list: Sequence[str]) -> List[str]:
    """Words of ``ids``; ``word_table_list[i]`` is word i (``read_symbols(words.txt)``)."""
    n = len(word_table_list)
    bad = [i for i in ids if not 0 <= i < n]
    if bad:
        raise ValueError(f"ids_to_words: ids {bad} outside the word table (0..{n - 1})")
    return [word_table_list[i] for i in ids]


# ------------------------------------------------------------- word times of a CTC path


def token_runs(path: Sequence[int], blank: int = 0) -> Tuple[List[int], List[Tuple[int, int]]]:
    """Greedy CTC path -> (tokens, (first frame, last frame) of each): a token per run of
    one non-blank id (what ``greedy_search`` keeps)."""
    tokens: List[int] = []
    spans: List[Tuple[int, int]] = []
    for t, token in enumerate(path):
        if t > 0 and token == path[t - 1]:
            if token != blank:
                spans[-1] = (spans[-1][0], t)
            continue
        if token != blank:
            tokens.append(token)
            spans.append((t, t))
    return tokens, spans


def word_spans(
    tokens: Sequence[int], spans: Sequence[Tuple[int, int]], decode: Callable, shift: float
) -> Optional[List[dict]]:
    """``[{"word", "start", "end"}]``: each word from the first frame of its first token to
    the end of the last frame of its last token (seconds). A token belongs to the word its
    text extends (``decode`` of the tokens so far); tokens that add no text (word
    boundaries, specials) to none. None when that does not give ``decode(tokens)``'s words."""
    words: List[list] = []
    before: List[str] = []
    for k, (first, last) in enumerate(spans):
        now = decode(tokens[: k + 1]).split()
        if now == before:
            continue
        if len(now) > len(before):  # it starts a word (or more)
            words += [["", first, last] for _ in now[len(before) :]]
        elif words:  # it extends the last word
            words[-1][2] = last
        for entry, word in zip(words, now):
            entry[0] = word
        before = now
    final = decode(list(tokens)).split()
    if [w for w, _, _ in words] != final:
        return None
    return [
        {"word": w, "start": round(a * shift, 3), "end": round((b + 1) * shift, 3)}
        for w, a, b in words
    ]
