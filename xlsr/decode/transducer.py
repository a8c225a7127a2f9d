"""Transducer decoding methods (the ones icefall's ``decode.py --decoding-method`` offers for a
stateless transducer) as library functions.

Every method takes the encoder output of a batch and returns one result per utterance, in the
order of the batch:

    encoder_out (Tensor): (batch, frames, encoder_dim), e.g. from ``model(waveforms, lengths)``.
    encoder_out_lens (Tensor): (batch,) valid frames per utterance, 1 <= length <= frames;
        frames past an utterance's length are never looked at.

``model`` is a :class:`xlsr.models.transducer.TransducerModel` or anything with its
``decoder`` (``context_size``, ``blank_id``, ``vocab_size``; ``decoder(y, need_pad=False)``
maps (N, context_size) token ids to (N, 1, decoder_dim)) and ``joiner`` (``encoder_proj``,
``decoder_proj``, ``joiner(enc, dec, project_input=False)``). Every hypothesis starts from
``context_size`` blanks.

| method                            | graph         | symbols per frame    | result    | k2  |
|-----------------------------------|---------------|----------------------|-----------|-----|
| :func:`greedy_search`             | -             | <= max_sym_per_frame | token ids | no  |
| :func:`modified_beam_search`      | -             | <= 1                 | token ids | no  |
| :func:`fast_beam_search_one_best` | trivial or LG | <= 1                 | token ids | yes |
| :func:`fast_beam_search_nbest_LG` | LG            | <= 1                 | word ids  | yes |

The fast methods search a decoding graph with k2's ``RnntDecodingStreams``
(:func:`fast_beam_search_lattice`): the trivial graph (any token sequence, no scores) or LG
(labels tokens, aux_labels words; :func:`xlsr.graph.compile.compile_lg`). In k2 1.23.4 an
utterance's last frame closes the lattice: its arcs become final arcs with score 0, so no token
is emitted on the last frame and its log-probs only steer pruning. Beams as tight as the
defaults can prune every path to a final state (most likely with an untrained model); such an
utterance decodes to [] unless ``allow_partial`` is set.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from xlsr.decode.graph_search import best_path_words, check_batch
from xlsr.decode.nbest import check_nbest_args, pick_best, sample_word_seqs
from xlsr.graph.k2_utils import require_k2

if TYPE_CHECKING:
    import k2

TokenSeq = Tuple[int, ...]


def _check_inputs(method: str, model: nn.Module, encoder_out: Tensor, encoder_out_lens) -> Tensor:
    """Checks the batch against the model; returns the lengths as a 1-D int64 CPU tensor."""
    names = ("encoder_out", "encoder_dim", "encoder_out_lens")
    lens = check_batch(method, encoder_out, encoder_out_lens, names)
    dim = model.joiner.encoder_proj.in_features
    if encoder_out.shape[2] != dim:
        raise ValueError(
            f"{method}: encoder_out has {encoder_out.shape[2]} channels, the joiner expects {dim}"
        )
    return lens


def _check_positive(method: str, **values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{method}: {name} must be > 0, got {value}")


def _decoder_out(model: nn.Module, contexts: Tensor) -> Tensor:
    """(N, context_size) token ids -> projected decoder output (N, joiner_dim)."""
    return model.joiner.decoder_proj(model.decoder(contexts, need_pad=False).squeeze(1))


def _log_probs(model: nn.Module, enc: Tensor, dec: Tensor, temperature: float = 1.0) -> Tensor:
    """Projected encoder frames (N, joiner_dim) and decoder outputs (N, joiner_dim) -> float32
    log-probabilities (N, vocab_size)."""
    logits = model.joiner(enc, dec, project_input=False).float()
    return (logits / temperature).log_softmax(dim=-1)


@torch.no_grad()
def greedy_search(
    model: nn.Module, encoder_out: Tensor, encoder_out_lens: Tensor, max_sym_per_frame: int = 1
) -> List[List[int]]:
    """Greedy search, batched: on each frame take the most likely symbol; a token is appended
    and the same frame is looked at again (up to ``max_sym_per_frame`` tokens), a blank moves
    on to the next frame (icefall ``greedy_search``; with 1, ``greedy_search_batch``).

    Args:
        model: the transducer (decoder and joiner are used).
        encoder_out (Tensor): (batch, frames, encoder_dim).
        encoder_out_lens (Tensor): (batch,) valid frames.
        max_sym_per_frame: tokens emitted on one frame at most (icefall --max-sym-per-frame).

    Returns:
        Token ids per utterance (no blanks), in batch order.
    """
    lens = _check_inputs("greedy_search", model, encoder_out, encoder_out_lens)
    if max_sym_per_frame < 1:
        raise ValueError(f"greedy_search: max_sym_per_frame must be >= 1, got {max_sym_per_frame}")
    if lens.numel() == 0:
        return []
    device, blank, ctx = encoder_out.device, model.decoder.blank_id, model.decoder.context_size
    enc = model.joiner.encoder_proj(encoder_out)
    hyps = [[blank] * ctx for _ in range(encoder_out.shape[0])]
    dec = _decoder_out(model, torch.tensor(hyps, dtype=torch.long, device=device))
    t = torch.zeros_like(lens)  # each utterance's current frame
    emitted = torch.zeros_like(lens)  # tokens emitted on it so far
    while True:
        active = torch.nonzero(t < lens).squeeze(1)
        if active.numel() == 0:
            break
        rows = active.to(device)
        logits = model.joiner(enc[rows, t[active].to(device)], dec[rows], project_input=False)
        best = logits.argmax(dim=-1).cpu()
        is_token = best != blank
        token_rows = active[is_token]
        for row, token in zip(token_rows.tolist(), best[is_token].tolist()):
            hyps[row].append(token)
        if token_rows.numel():
            contexts = torch.tensor([hyps[r][-ctx:] for r in token_rows.tolist()], device=device)
            dec[token_rows.to(device)] = _decoder_out(model, contexts)
        emitted[active] += is_token.long()
        move_on = active[~is_token | (emitted[active] >= max_sym_per_frame)]
        t[move_on] += 1
        emitted[move_on] = 0
    return [h[ctx:] for h in hyps]


def _logaddexp(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return hi if lo == -math.inf else hi + math.log1p(math.exp(lo - hi))


def _beam_step(
    model: nn.Module,
    enc_t: Tensor,
    beams: List[Dict[TokenSeq, float]],
    beam: int,
    temperature: float,
) -> List[Dict[TokenSeq, float]]:
    """One frame of modified beam search for the utterances of ``beams``.

    Args:
        enc_t (Tensor): (len(beams), joiner_dim) projected encoder frame of each utterance.
        beams: per utterance, {token sequence (no start context): log-probability}.

    Returns:
        The new beams: per utterance the ``beam`` best one-symbol extensions of its hypotheses
        (blank keeps the sequence), those with equal sequences merged by log-add.
    """
    blank, ctx = model.decoder.blank_id, model.decoder.context_size
    device, start = enc_t.device, (blank,) * ctx
    seqs = [list(b) for b in beams]
    utt = [i for i, s in enumerate(seqs) for _ in s]
    slot = [k for s in seqs for k in range(len(s))]
    contexts = torch.tensor([(start + ys)[-ctx:] for s in seqs for ys in s], device=device)
    scores = torch.tensor([p for b in beams for p in b.values()], dtype=torch.float64)
    utt_idx = torch.tensor(utt, device=device)
    log_probs = _log_probs(model, enc_t[utt_idx], _decoder_out(model, contexts), temperature)
    vocab = log_probs.shape[1]
    grid = torch.full((len(beams), beam, vocab), -math.inf, dtype=torch.float64, device=device)
    totals = log_probs.double() + scores.to(device)[:, None]  # (hypotheses, vocab)
    grid[utt_idx, torch.tensor(slot, device=device)] = totals
    top, top_idx = grid.view(len(beams), -1).topk(beam, dim=1)
    out: List[Dict[TokenSeq, float]] = []
    for i, (values, flat) in enumerate(zip(top.tolist(), top_idx.tolist())):
        new: Dict[TokenSeq, float] = {}
        for score, index in zip(values, flat):
            if score == -math.inf:  # fewer than `beam` candidates
                continue
            k, token = divmod(index, vocab)
            ys = seqs[i][k] if token == blank else seqs[i][k] + (token,)
            new[ys] = _logaddexp(new[ys], score) if ys in new else score
        out.append(new)
    return out


@torch.no_grad()
def modified_beam_search(
    model: nn.Module,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: int = 4,
    temperature: float = 1.0,
) -> List[List[int]]:
    """Beam search with at most one symbol per frame (icefall ``modified_beam_search``).

    On each frame every hypothesis is extended by one symbol (a blank keeps its tokens), the
    ``beam`` best extensions of the utterance are kept, and those with equal token sequences are
    merged: their probabilities add. A hypothesis's score is thus the log of the summed
    probability of its alignments that survived the beam. Utterances are batched; the frame
    loop runs to the longest one and an utterance's beam is left alone after its last frame.
    The result is the hypothesis with the highest score (icefall divides by the length first;
    we do not).

    Args:
        model: the transducer (decoder and joiner are used).
        encoder_out (Tensor): (batch, frames, encoder_dim).
        encoder_out_lens (Tensor): (batch,) valid frames.
        beam: hypotheses kept per utterance (icefall --beam-size).
        temperature: the joiner's logits are divided by it before the softmax.

    Returns:
        Token ids per utterance (no blanks), in batch order.
    """
    lens = _check_inputs("modified_beam_search", model, encoder_out, encoder_out_lens)
    if beam < 1:
        raise ValueError(f"modified_beam_search: beam must be >= 1, got {beam}")
    _check_positive("modified_beam_search", temperature=temperature)
    enc = model.joiner.encoder_proj(encoder_out)
    beams: List[Dict[TokenSeq, float]] = [{(): 0.0} for _ in range(encoder_out.shape[0])]
    for t in range(int(lens.max()) if lens.numel() else 0):  # an empty batch gives []
        active = torch.nonzero(lens > t).squeeze(1).tolist()
        rows = torch.tensor(active, device=enc.device)
        stepped = _beam_step(model, enc[rows, t], [beams[i] for i in active], beam, temperature)
        for i, new in zip(active, stepped):
            beams[i] = new
    return [list(max(b.items(), key=lambda item: item[1])[0]) for b in beams]


@functools.lru_cache(maxsize=8)
def _trivial_graph(max_token_id: int, device: str) -> k2.Fsa:
    k2 = require_k2("fast_beam_search")
    return k2.trivial_graph(max_token_id, device=torch.device(device))


def trivial_graph(model: nn.Module, device: Optional[torch.device] = None) -> k2.Fsa:
    """The graph of plain fast beam search: any sequence of the model's tokens
    (``k2.trivial_graph(vocab_size - 1)``), no scores; cached per device (do not modify)."""
    return _trivial_graph(model.decoder.vocab_size - 1, str(torch.device(device or "cpu")))


def _check_graph(method: str, graph: k2.Fsa, model: nn.Module, encoder_out: Tensor) -> None:
    if len(graph.shape) != 2:
        raise ValueError(
            f"{method}: the decoding graph must be a single FSA, got an FsaVec of shape "
            f"{tuple(graph.shape)}; pass graph[0]"
        )
    if graph.device != encoder_out.device:
        raise ValueError(
            f"{method}: the decoding graph is on {graph.device} but encoder_out on "
            f"{encoder_out.device}; move it with graph.to(device)"
        )
    vocab = model.decoder.vocab_size
    top = int(graph.labels.max()) if graph.num_arcs else -1
    if top >= vocab:
        raise ValueError(
            f"{method}: the decoding graph has token ids up to {top} but the model has "
            f"vocab_size {vocab}; was it built from the model's tokens.txt?"
        )


@torch.no_grad()
def fast_beam_search_lattice(
    model: nn.Module,
    decoding_graph: Optional[k2.Fsa],
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: float = 20.0,
    max_states: int = 64,
    max_contexts: int = 8,
    temperature: float = 1.0,
    allow_partial: bool = False,
) -> k2.Fsa:
    """The lattice of fast beam search (icefall ``fast_beam_search``): k2's
    ``RnntDecodingStreams`` walk the graph and the transducer together, one symbol per frame (a
    token follows a graph arc, a blank stays), pruned per frame to ``beam`` below the best
    state and to ``max_states`` states and ``max_contexts`` decoder contexts per utterance.

    Args:
        model: the transducer (decoder and joiner are used).
        decoding_graph (k2.Fsa): single FSA on encoder_out's device, labels tokens of the
            model: :func:`trivial_graph` (also taken when None) or LG. Not modified.
        encoder_out (Tensor): (batch, frames, encoder_dim).
        encoder_out_lens (Tensor): (batch,) valid frames; batch >= 1.
        beam: score beam (icefall --beam).
        max_states: states kept per utterance and frame (icefall --max-states).
        max_contexts: decoder contexts kept per utterance and frame (icefall --max-contexts).
        temperature: the joiner's logits are divided by it before the softmax.
        allow_partial: where no final state of the graph survives on the last frame, end the
            lattice at every state there instead of leaving it without paths (k2 then gives a
            state one final arc per arc it had on that frame, so log-sums over paths count
            such a path several times).

    Returns:
        k2.Fsa: FsaVec of ``batch`` lattices in batch order, labels tokens (0: blank), with the
        graph's attributes (aux_labels); scores are log-probs plus graph scores. Not
        connected: states that lead nowhere remain.
    """
    k2 = require_k2("fast_beam_search")
    method = "fast_beam_search"
    lens = _check_inputs(method, model, encoder_out, encoder_out_lens)
    graph = trivial_graph(model, encoder_out.device) if decoding_graph is None else decoding_graph
    _check_graph(method, graph, model, encoder_out)
    _check_positive(
        method, beam=beam, max_states=max_states, max_contexts=max_contexts, temperature=temperature
    )
    if lens.numel() == 0:
        raise ValueError(f"{method}: the batch is empty")
    config = k2.RnntDecodingConfig(
        vocab_size=model.decoder.vocab_size,
        decoder_history_len=model.decoder.context_size,
        beam=float(beam),
        max_states=int(max_states),
        max_contexts=int(max_contexts),
    )
    streams = k2.RnntDecodingStreams([k2.RnntDecodingStream(graph) for _ in lens], config)
    enc = model.joiner.encoder_proj(encoder_out)
    for t in range(int(lens.max())):
        shape, contexts = streams.get_contexts()  # [utt][context], (contexts, context_size)
        utt = shape.row_ids(1).long()
        dec = _decoder_out(model, contexts.long())
        streams.advance(_log_probs(model, enc[utt, t], dec, temperature))
    streams.terminate_and_flush_to_streams()
    return streams.format_output(lens.tolist(), allow_partial=allow_partial)


def fast_beam_search_one_best(
    model: nn.Module,
    decoding_graph: Optional[k2.Fsa],
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: float = 20.0,
    max_states: int = 64,
    max_contexts: int = 8,
    temperature: float = 1.0,
    allow_partial: bool = False,
) -> List[List[int]]:
    """Fast beam search, tokens on the best path of the lattice (icefall
    ``fast_beam_search``, with the trivial graph).

    The best path is the best single alignment, not the token sequence with the best sum over
    alignments (compare :func:`modified_beam_search`). With LG as the graph the tokens are
    restricted to words of the lexicon; :func:`fast_beam_search_nbest_LG` gives the words.

    Args:
        model, decoding_graph, encoder_out, encoder_out_lens, beam, max_states, max_contexts,
            temperature, allow_partial: as in :func:`fast_beam_search_lattice`
            (``decoding_graph=None``: the trivial graph).

    Returns:
        Token ids per utterance (no blanks), in batch order; [] where no path survived.
    """

    lattice = fast_beam_search_lattice(
        model,
        decoding_graph,
        encoder_out,
        encoder_out_lens,
        beam,
        max_states,
        max_contexts,
        temperature,
        allow_partial,
    )
    return best_path_words(lattice, torch.arange(lattice.shape[0]), "labels")


def _word_seq_scores(lattice: k2.Fsa, seqs: List[List[Tuple[int, ...]]]) -> Tensor:
    """Log of the summed probability of the lattice paths that say each word sequence (icefall
    uses the log semiring here; see icefall PR #420), in flattened ``seqs`` order."""
    k2 = require_k2("fast_beam_search_nbest_LG")
    flat = [list(s) for utt in seqs for s in utt]
    seq_to_utt = [u for u, utt in enumerate(seqs) for _ in utt]
    word_fsas = k2.add_epsilon_self_loops(k2.linear_fsa(flat, lattice.device))
    inv = k2.arc_sort(k2.invert(lattice))  # words become labels; word-less arcs epsilon
    b_to_a = torch.tensor(seq_to_utt, dtype=torch.int32, device=lattice.device)
    restricted = k2.intersect_device(inv, word_fsas, b_to_a, sorted_match_a=True)
    restricted = k2.top_sort(k2.connect(restricted))
    return restricted.get_tot_scores(use_double_scores=True, log_semiring=True)


def fast_beam_search_nbest_LG(
    model: nn.Module,
    LG: k2.Fsa,
    encoder_out: Tensor,
    encoder_out_lens: Tensor,
    beam: float = 20.0,
    max_states: int = 64,
    max_contexts: int = 8,
    num_paths: int = 200,
    nbest_scale: float = 0.5,
    ngram_lm_scale: float = 0.01,
    temperature: float = 1.0,
    allow_partial: bool = False,
) -> List[List[int]]:
    """Fast beam search through LG, then n-best (icefall ``fast_beam_search_nbest_LG``).

    1. LG's scores are scaled by ``ngram_lm_scale`` (on a copy) and the lattice is built as
       in :func:`fast_beam_search_lattice`.
    2. ``num_paths`` paths are sampled per lattice with k2.random_paths on the scores scaled by
       ``nbest_scale`` and reduced to their distinct word sequences.
    3. Each word sequence's score is the log-sum of the lattice paths that say it.
    4. The sequence with the highest score wins.

    Args:
        model: the transducer (decoder and joiner are used).
        LG (k2.Fsa): single FSA, labels tokens of the model, aux_labels words
            (:func:`xlsr.graph.compile.compile_lg`), on encoder_out's device; not modified
            (the scaled copy costs one clone of LG per call).
        encoder_out (Tensor): (batch, frames, encoder_dim).
        encoder_out_lens (Tensor): (batch,) valid frames.
        beam, max_states, max_contexts, temperature, allow_partial: as in
            :func:`fast_beam_search_lattice`.
        num_paths: paths sampled per utterance (icefall --num-paths).
        nbest_scale: scale of lattice scores for sampling (icefall --nbest-scale).
        ngram_lm_scale: scale of LG's scores (icefall --ngram-lm-scale, 0.01 there).

    Returns:
        Word ids per utterance, in batch order; [] where no path survived.
    """
    k2 = require_k2("fast_beam_search_nbest_LG")
    method = "fast_beam_search_nbest_LG"
    if not hasattr(LG, "aux_labels"):
        raise ValueError(f"{method}: LG has no aux_labels (words); build it with compile_lg")
    check_nbest_args(method, num_paths, nbest_scale)
    if ngram_lm_scale < 0:
        raise ValueError(f"{method}: ngram_lm_scale must be >= 0, got {ngram_lm_scale}")
    graph = LG.clone()
    graph.scores = LG.scores * ngram_lm_scale
    lattice = fast_beam_search_lattice(
        model,
        graph,
        encoder_out,
        encoder_out_lens,
        beam,
        max_states,
        max_contexts,
        temperature,
        allow_partial,
    )
    lattice = k2.connect(lattice)  # dead ends out; a lattice without paths becomes empty
    seqs = sample_word_seqs(lattice, num_paths, nbest_scale)
    if not any(seqs):
        return [[] for _ in seqs]
    return pick_best(seqs, _word_seq_scores(lattice, seqs))
