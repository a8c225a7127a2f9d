"""Search over the speech-translation decoder (:class:`xlsr.models.st.StModel`).

Both methods take the decoder memory of a batch and a forced prefix, and return one result
per utterance, in the order of the batch:

    memory (Tensor): (batch, frames, dim) from ``model.encode_for_decoder``.
    memory_lengths (Tensor): (batch,) valid frames per utterance.
    prefix (Tensor): (batch, P) long, P >= 1: the decoder input before the first generated
        token, e.g. ``</s> <lang>`` (the start token and the forced target-language tag).

| method                | hypotheses per utterance          | result                       |
|-----------------------|-----------------------------------|------------------------------|
| :func:`greedy_search` | 1 (argmax)                        | token ids                    |
| :func:`beam_search`   | ``beam``, batched with the cache  | ``nbest`` (token ids, score) |

:func:`joint_ctc_rescore` reorders an n-best by joint CTC/attention scores, where the model
has a CTC head over the target tokens (``StConfig.ctc_target = "target"``).

Results are the tokens after the prefix, without ``eos``. A hypothesis of ``n`` tokens ends
with ``eos`` at step ``n``; ``eos`` is not allowed before step ``min_len`` and is forced at
step ``max_len = min(int(max_len_a * memory_length + max_len_b), max_target_positions - P)``
(the forced ``eos`` wins over ``min_len``); ``pad`` is never generated. A finished hypothesis
scores ``sum log p / (n + 1) ** len_penalty``: its ``n`` tokens and ``eos``, not the prefix
(fairseq's ``SequenceGenerator`` normalisation).

Cost: one ``decode_step`` per step for all live rows (``batch x beam`` for the beam search),
each running only the newest token against the key/value cache; utterances that finish leave
the batch. Per step the search syncs with the device a few times (small tensors only).

``model`` is an ``StModel`` or anything with its ``cfg`` (``pad_id``, ``eos_id``,
``max_target_positions``) and ``decode_step``; the cache is reordered with
:func:`xlsr.models.st.reorder_cache`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import Tensor

from xlsr.models.st import Cache, reorder_cache

Hypothesis = Tuple[List[int], float]


@dataclass
class SearchConfig:
    beam: int = 5  # fairseq --beam (hypotheses kept per utterance)
    len_penalty: float = 1.0  # fairseq --lenpen: score = sum log p / length ** len_penalty
    max_len_a: float = 0.0  # fairseq --max-len-a: max length = a * memory frames + b
    max_len_b: int = 200  # fairseq --max-len-b
    nbest: int = 1  # fairseq --nbest (hypotheses returned per utterance, <= beam)
    min_len: int = 1  # fairseq --min-len (no eos before this many tokens)

    def __post_init__(self) -> None:
        if self.beam < 1:
            raise ValueError(f"--beam must be >= 1, got {self.beam}")
        if not 1 <= self.nbest <= self.beam:
            raise ValueError(f"--nbest must be in [1, --beam={self.beam}], got {self.nbest}")
        if not math.isfinite(self.len_penalty):
            raise ValueError(f"--lenpen must be finite, got {self.len_penalty}")
        if not (math.isfinite(self.max_len_a) and self.max_len_a >= 0):
            raise ValueError(f"--max-len-a must be >= 0, got {self.max_len_a}")
        if self.max_len_b < 0:
            raise ValueError(f"--max-len-b must be >= 0, got {self.max_len_b}")
        if self.min_len < 0:
            raise ValueError(f"--min-len must be >= 0, got {self.min_len}")


def _check_inputs(method: str, memory: Tensor, memory_lengths: Tensor, prefix: Tensor) -> None:
    if memory.dim() != 3:
        raise ValueError(
            f"{method}: memory must be (batch, frames, dim), got {tuple(memory.shape)}"
        )
    b = memory.shape[0]
    if tuple(memory_lengths.shape) != (b,):
        raise ValueError(f"{method}: memory_lengths {tuple(memory_lengths.shape)} for batch {b}")
    if prefix.dim() != 2 or prefix.shape[0] != b or prefix.shape[1] < 1:
        raise ValueError(f"{method}: prefix must be (batch={b}, P>=1), got {tuple(prefix.shape)}")
    if prefix.dtype.is_floating_point or prefix.dtype == torch.bool:
        raise ValueError(f"{method}: prefix must hold token ids, got {prefix.dtype}")


def max_lengths(model, memory_lengths: Tensor, prefix_len: int, cfg: SearchConfig) -> List[int]:
    """Per utterance the most tokens generated before ``eos`` is forced: fairseq's
    ``a * source length + b`` (source length = memory frames), capped by the decoder's
    positions (the forced ``eos`` is predicted from ``prefix_len + max_len`` inputs)."""
    cap = max(0, int(model.cfg.max_target_positions) - prefix_len)
    lengths = memory_lengths.tolist()
    return [min(int(cfg.max_len_a * n + cfg.max_len_b), cap) for n in lengths]


def _mask_(scores: Tensor, step: int, max_lens: Tensor, cfg: SearchConfig, model) -> Tensor:
    """Sets the forbidden tokens of ``scores`` (N, V) at step ``step`` to -inf, in place: pad
    always, eos before ``min_len``, all but eos where ``step`` reached the row's ``max_lens``
    (N,) (the forced eos wins over ``min_len``). Returns ``scores``."""
    pad, eos = model.cfg.pad_id, model.cfg.eos_id
    at_max = max_lens <= step
    scores[:, pad] = -math.inf
    if step < cfg.min_len:
        scores[:, eos] = scores[:, eos].masked_fill(~at_max, -math.inf)
    if bool(at_max.any()):
        eos_scores = scores[:, eos].clone()
        scores.masked_fill_(at_max[:, None], -math.inf)
        scores[:, eos] = eos_scores
    return scores


def greedy_search(
    model, memory: Tensor, memory_lengths: Tensor, prefix: Tensor, cfg: SearchConfig
) -> List[List[int]]:
    """Argmax decoding (``cfg.max_len_a``, ``max_len_b``, ``min_len`` apply).

    Returns:
        Per utterance the token ids after the prefix, without eos.
    """
    _check_inputs("greedy_search", memory, memory_lengths, prefix)
    eos, device = model.cfg.eos_id, memory.device
    max_lens = torch.tensor(max_lengths(model, memory_lengths, prefix.shape[1], cfg), device=device)
    alive = list(range(memory.shape[0]))
    out: List[List[int]] = [[] for _ in alive]
    tokens, cache = prefix.to(device=device, dtype=torch.long), None
    for step in range(int(max_lens.max()) + 1 if alive else 0):
        lprobs, cache = model.decode_step(memory, memory_lengths, tokens, cache)
        best = _mask_(lprobs.clone(), step, max_lens, cfg, model).argmax(dim=-1)
        keep = []
        for i, token in enumerate(best.tolist()):
            if token != eos:
                out[alive[i]].append(token)
                keep.append(i)
        if not keep:
            break
        if len(keep) < len(alive):  # drop the finished rows
            rows = torch.tensor(keep, device=device)
            cache = reorder_cache(cache, rows)
            memory, memory_lengths, max_lens = memory[rows], memory_lengths[rows], max_lens[rows]
            tokens, best = tokens[rows], best[rows]
            alive = [alive[i] for i in keep]
        tokens = torch.cat([tokens, best[:, None]], dim=1)
    return out


@dataclass
class _Beams:
    """The active part of a batched beam search: ``N`` live utterances x ``K`` beams."""

    utts: List[int]  # (N,) batch index of each live utterance
    tokens: Tensor  # (N * K, P + step) decoder input
    scores: Tensor  # (N, K) summed log-probs after the prefix; -inf marks an empty beam
    memory: Tensor  # (N * K, T', D)
    memory_lengths: Tensor  # (N * K,)
    max_lens: Tensor  # (N * K,)
    cache: Optional[Cache] = None

    def keep(self, live: List[int], origin: Tensor, new_tokens: Tensor, scores: Tensor) -> None:
        """Keeps utterances ``live`` (indices into N); beam j of utterance n continues beam
        ``origin[n, j]`` (N, K) with ``new_tokens[n, j]``; ``scores`` (N, K) are the new sums."""
        k = origin.shape[1]
        idx = torch.tensor(live, device=origin.device)
        rows = (idx[:, None] * k + origin[idx]).reshape(-1)
        self.tokens = torch.cat([self.tokens[rows], new_tokens[idx].reshape(-1, 1)], dim=1)
        self.scores = scores[idx]
        assert self.cache is not None
        if len(live) == len(self.utts):
            # rows stay within their utterance: the beams' memory, lengths and cross-attention
            # keys / values are the same, only the self-attention cache follows the beams
            self.cache = reorder_cache(self.cache, rows, parts=("self",))
            return
        self.utts = [self.utts[n] for n in live]
        self.memory, self.memory_lengths = self.memory[rows], self.memory_lengths[rows]
        self.max_lens = self.max_lens[rows]
        self.cache = reorder_cache(self.cache, rows)


def _start(memory: Tensor, memory_lengths: Tensor, prefix: Tensor, max_lens, k: int) -> _Beams:
    device, b = memory.device, memory.shape[0]
    scores = torch.full((b, k), -math.inf, device=device)
    scores[:, 0] = 0.0  # one hypothesis (the prefix) until the first step fans out
    return _Beams(
        utts=list(range(b)),
        tokens=prefix.to(device=device, dtype=torch.long).repeat_interleave(k, dim=0),
        scores=scores,
        memory=memory.repeat_interleave(k, dim=0),
        memory_lengths=memory_lengths.repeat_interleave(k, dim=0),
        max_lens=torch.tensor(max_lens, device=device).repeat_interleave(k, dim=0),
    )


def _is_done(hyps: List[Hypothesis], best_active: float, k: int) -> bool:
    """An utterance is done when it has no active beam, or ``k`` finished hypotheses and
    no active one (judged as if it ended now) beats the ``k``-th best finished."""
    if best_active == -math.inf:
        return True
    if len(hyps) < k:
        return False
    return best_active <= sorted((s for _, s in hyps), reverse=True)[k - 1]


def _step(beams: _Beams, model, step: int, cfg: SearchConfig, finished, prefix_len: int):
    """One step of the batched beam search; returns the indices of the live utterances."""
    n, k = beams.scores.shape
    lprobs, beams.cache = model.decode_step(
        beams.memory, beams.memory_lengths, beams.tokens, beams.cache
    )
    cand = _mask_(beams.scores.reshape(-1, 1) + lprobs, step, beams.max_lens, cfg, model)
    v = cand.shape[1]
    cand = cand.reshape(n, k * v)
    top, idx = cand.topk(min(2 * k, k * v), dim=1)  # at most k of them are eos
    origin, token = torch.div(idx, v, rounding_mode="floor"), idx % v
    is_eos, finite = token == model.cfg.eos_id, torch.isfinite(top)
    # eos candidates within the beam finish (fairseq); the best k others continue
    rank = torch.arange(top.shape[1], device=top.device)
    ends = is_eos & finite & (rank < k)
    order = ((is_eos | ~finite).long() * top.shape[1] + rank).argsort(dim=1)[:, :k]
    scores = top.gather(1, order)
    scores = scores.masked_fill(is_eos.gather(1, order), -math.inf)
    norm = float(step + 1) ** cfg.len_penalty  # n + 1 = step + 1 tokens with eos
    if bool(ends.any()):
        utt = ends.nonzero()[:, 0]
        seqs = beams.tokens[utt * k + origin[ends], prefix_len:].tolist()
        for i, seq, s in zip(utt.tolist(), seqs, top[ends].tolist()):
            finished[beams.utts[i]].append((seq, s / norm))
    best_active = (scores.max(dim=1).values / norm).tolist()
    live = [i for i in range(n) if not _is_done(finished[beams.utts[i]], best_active[i], k)]
    if live:
        beams.keep(live, origin.gather(1, order), token.gather(1, order), scores)
    return live


def beam_search(
    model, memory: Tensor, memory_lengths: Tensor, prefix: Tensor, cfg: SearchConfig
) -> List[List[Hypothesis]]:
    """Beam search, batched over utterances x beams, the cache reordered every step.

    Each step the ``2 * beam`` best extensions of an utterance's beams are taken; the eos
    ones ranked within ``beam`` finish (kept aside with their normalised score), the ``beam``
    best others continue. An utterance stops when no beam is active (at its max length all
    end with eos), or when ``beam`` hypotheses finished and no active one, normalised as if
    it ended at this length, beats the ``beam``-th best finished one (exact for
    ``len_penalty <= 0``, a heuristic for positive ones as in Hugging Face's
    ``early_stopping=False``); finished utterances leave the batch.

    Returns:
        Per utterance the ``nbest`` best (token ids after the prefix without eos, score),
        best first.
    """
    _check_inputs("beam_search", memory, memory_lengths, prefix)
    b, p = memory.shape[0], prefix.shape[1]
    max_lens = max_lengths(model, memory_lengths, p, cfg)
    finished: List[List[Hypothesis]] = [[] for _ in range(b)]
    beams = _start(memory, memory_lengths, prefix, max_lens, cfg.beam)
    for step in range(max(max_lens, default=-1) + 1):
        if not _step(beams, model, step, cfg, finished, p):
            break
    return [sorted(h, key=lambda x: -x[1])[: cfg.nbest] for h in finished]


def ctc_log_likelihoods(
    log_probs: Tensor, frames: int, hyps: List[List[int]], blank: int = 0
) -> List[float]:
    """``log p_ctc(y | x)`` of each token sequence ``y`` in ``hyps`` under one utterance's
    CTC output ``log_probs`` (T, V) (its first ``frames`` rows); -inf where infeasible."""
    import torch.nn.functional as F

    if not hyps:
        return []
    n = len(hyps)
    lp = log_probs[:frames].float()[:, None, :].expand(frames, n, log_probs.shape[-1])
    flat = torch.tensor([t for h in hyps for t in h], dtype=torch.long, device=lp.device)
    loss = F.ctc_loss(
        lp,
        flat,
        torch.full((n,), frames, dtype=torch.long),
        torch.tensor([len(h) for h in hyps], dtype=torch.long),
        blank=blank,
        reduction="none",
        zero_infinity=False,
    )
    return [-float(x) for x in loss.cpu()]


def joint_ctc_rescore(
    nbest: List[Hypothesis],
    log_probs: Tensor,
    frames: int,
    weight: float,
    len_penalty: float = 1.0,
    blank: int = 0,
) -> List[Hypothesis]:
    """Joint CTC/attention scores of one utterance's n-best (Watanabe et al. 2017, ESPnet's
    ``ctc_weight``): ``(1 - weight) * attention + weight * log p_ctc / (n + 1) ** len_penalty``
    for a hypothesis of ``n`` tokens, the attention score being the beam search's (already
    normalised the same way); best first. A hypothesis the CTC cannot emit scores -inf."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"ctc weight must be in [0, 1], got {weight}")
    ctc = ctc_log_likelihoods(log_probs, frames, [h for h, _ in nbest], blank)
    joint = [
        (h, (1.0 - weight) * att + weight * c / float(len(h) + 1) ** len_penalty)
        for (h, att), c in zip(nbest, ctc)
    ]
    return sorted(joint, key=lambda x: -x[1])
