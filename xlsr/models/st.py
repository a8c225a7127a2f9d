"""Speech translation: XLS-R encoder, length adaptor and an mBART-style decoder.

fairseq's ``xm_transformer`` (XLS-R + mBART-50): ``encoder -> [proj to the decoder width]
-> [Conv1dAdaptor] -> TransformerDecoder``, as fairseq orders them (the projection
``w2v_encoder.proj`` sits inside the wav2vec encoder, the adaptor works at the decoder
width). An optional CTC head on the encoder output (before projection and adaptor) adds an
auxiliary loss on the source transcript.

The decoder is mBART's: scaled token embeddings (``sqrt(D)``) plus learned positions with
offset 2 (token ``t`` reads row ``t + 2`` of ``embed_positions``; fairseq's padding-aware
positions give the same rows for right-padded inputs), ``layernorm_embedding``, pre-LN layers
(self-attention, encoder attention, GELU FFN), a final ``layer_norm`` and an output
projection tied to ``embed_tokens``.

Token ids (fairseq dictionary convention): ``bos=0``, ``pad=1``, ``eos=2``; the decoder
input ``prev_output_tokens`` starts with ``eos`` (fairseq) or a language tag and the target
ends with ``eos``. The CTC head uses the source vocabulary with blank ``0`` (as
``CtcModel``). Shapes: ``B`` batch, ``T`` encoder frames, ``T'`` memory frames, ``U``
target tokens, ``D`` decoder width, ``V`` target vocabulary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.models.adaptor import Conv1dAdaptor
from xlsr.models.base import TaskModel
from xlsr.models.components import HAS_SDPA, padding_mask
from xlsr.models.ctc import torch_ctc_loss
from xlsr.models.encoder import XLSREncoder

Cache = Dict[str, object]


@dataclass
class StConfig:
    vocab_size: int = 1000  # target tokens (fairseq len(tgt_dict); HF vocab_size)
    decoder_embed_dim: int = 1024  # fairseq decoder_embed_dim; HF d_model
    decoder_layers: int = 12  # fairseq decoder_layers; HF decoder_layers
    decoder_attention_heads: int = 16  # fairseq decoder_attention_heads; HF same
    decoder_ffn_embed_dim: int = 4096  # fairseq decoder_ffn_embed_dim; HF decoder_ffn_dim
    max_target_positions: int = 1024  # fairseq max_target_positions; HF max_position_embeddings
    dropout: float = 0.1  # fairseq decoder_dropout / dropout; HF dropout
    attention_dropout: float = 0.0  # fairseq decoder_attention_dropout; HF attention_dropout
    activation_dropout: float = 0.0  # fairseq decoder_activation_dropout; HF activation_dropout
    adaptor_layers: int = 3  # fairseq adaptor_n_layers (0 = no adaptor)
    adaptor_kernel: int = 3  # fairseq adaptor_kernel_size
    adaptor_stride: int = 2  # fairseq adaptor_stride
    encoder_proj: bool = False  # fairseq encoder_proj (w2v_encoder.proj: Linear enc -> dec width)
    encoder_proj_layer_norm: bool = False  # fairseq w2v_proj_ln (with adaptor_proj archs)
    label_smoothing: float = 0.1  # fairseq label_smoothed_cross_entropy --label-smoothing
    ctc_weight: float = 0.0  # auxiliary CTC loss (0 = off), on ctc_target
    # "source": the source transcript (source_vocab_size outputs: the joint model decodes as
    # ASR too); "target": the translation's tokens (vocab_size outputs, blank = <s> id 0,
    # which no target holds), for joint CTC/attention scoring of the beam search's n-best
    # (ESPnet's ST CTC); a target CTC knows no target language: one target language only
    ctc_target: str = "source"
    source_vocab_size: int = 0  # CTC output size including the blank (id 0)
    pad_id: int = 1  # fairseq dictionary pad(); HF pad_token_id
    eos_id: int = 2  # fairseq dictionary eos(); HF eos_token_id (decoder start in fairseq)


def st_tiny(vocab_size: int, source_vocab_size: int = 0, **kw) -> StConfig:
    """A CPU-sized decoder: width 128, 2 layers, 4 heads, FFN 256, 2 adaptor layers (4x)."""
    base = dict(
        vocab_size=vocab_size,
        decoder_embed_dim=128,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_embed_dim=256,
        max_target_positions=256,
        adaptor_layers=2,
        encoder_proj=True,
        source_vocab_size=source_vocab_size,
    )
    return StConfig(**{**base, **kw})


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], p: float) -> Tensor:
    """softmax(q k^T / sqrt(d)) v; q (B, H, U, d), k/v (B, H, S, d), mask (B|1, 1, U|1, S)
    True where attention is allowed. SDPA on torch 2.x, the explicit product on 1.13."""
    if HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-1, -2))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = F.dropout(torch.softmax(scores, dim=-1), p=p, training=p > 0)
    return torch.matmul(probs, v)


class Attention(nn.Module):
    """Multi-head attention with fairseq's names ``{q,k,v,out}_proj``.

    With ``cache`` (a dict) it appends this step's keys/values (self-attention) or computes
    the memory's keys/values once (``static``: encoder attention).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)

    def _keys_values(self, kv: Tensor, cache: Optional[dict], static: bool):
        if cache is not None and static and "k" in cache:
            return cache["k"], cache["v"]
        k, v = self._split(self.k_proj(kv)), self._split(self.v_proj(kv))
        if cache is not None:
            if not static and "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
        return k, v

    def forward(
        self,
        x: Tensor,
        kv: Tensor,
        mask: Optional[Tensor],
        cache: Optional[dict] = None,
        static: bool = False,
    ) -> Tensor:
        """x (B, U, D) queries, kv (B, S, D) keys/values; mask broadcastable to (B, H, U, S)."""
        b, u, d = x.shape
        k, v = self._keys_values(kv, cache, static)
        p = self.dropout if self.training else 0.0
        y = attend(self._split(self.q_proj(x)), k, v, mask, p)
        return self.out_proj(y.transpose(1, 2).reshape(b, u, d))


class DecoderLayer(nn.Module):
    """Pre-LN decoder layer: x + SelfAttn(LN x), x + EncAttn(LN x, memory), x + FFN(LN x)."""

    def __init__(self, cfg: StConfig) -> None:
        super().__init__()
        d = cfg.decoder_embed_dim
        self.self_attn = Attention(d, cfg.decoder_attention_heads, cfg.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, cfg.decoder_attention_heads, cfg.attention_dropout)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, cfg.decoder_ffn_embed_dim)
        self.fc2 = nn.Linear(cfg.decoder_ffn_embed_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)
        self.activation_dropout = nn.Dropout(cfg.activation_dropout)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Optional[Tensor],
        memory_mask: Tensor,
        cache: Optional[dict] = None,
    ) -> Tensor:
        """x (B, U, D); memory (B, T', D); masks True where attention is allowed."""
        self_cache = None if cache is None else cache.setdefault("self", {})
        cross_cache = None if cache is None else cache.setdefault("cross", {})
        h = self.self_attn_layer_norm(x)
        x = x + self.dropout(self.self_attn(h, h, self_mask, self_cache))
        h = self.encoder_attn_layer_norm(x)
        x = x + self.dropout(self.encoder_attn(h, memory, memory_mask, cross_cache, True))
        h = self.activation_dropout(F.gelu(self.fc1(self.final_layer_norm(x))))
        return x + self.dropout(self.fc2(h))


class StDecoder(nn.Module):
    """mBART decoder (fairseq ``TransformerDecoder`` with mBART's options; HF ``MBartDecoder``).

    Keys as fairseq's ``decoder.*``: ``embed_tokens``, ``embed_positions`` (max + 2 rows),
    ``layernorm_embedding``, ``layers.N.*``, ``layer_norm``; the output projection is
    ``embed_tokens.weight`` (tied). Inputs are right-padded, so self-attention needs no
    padding mask: the causal mask already keeps every real position from later pads.
    """

    position_offset = 2  # mBART: token t reads embed_positions row t + 2

    def __init__(self, cfg: StConfig) -> None:
        super().__init__()
        d = cfg.decoder_embed_dim
        self.embed_scale = d**0.5
        self.embed_tokens = nn.Embedding(cfg.vocab_size, d, padding_idx=cfg.pad_id)
        nn.init.normal_(self.embed_tokens.weight, std=d**-0.5)
        with torch.no_grad():
            self.embed_tokens.weight[cfg.pad_id].zero_()
        rows = cfg.max_target_positions + self.position_offset
        self.embed_positions = nn.Embedding(rows, d)
        self.layernorm_embedding = nn.LayerNorm(d)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        self.layer_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)

    def _embed(self, tokens: Tensor, start: int) -> Tensor:
        u = tokens.shape[1]
        if start + u > self.embed_positions.num_embeddings - self.position_offset:
            raise ValueError(f"{start + u} target positions, more than the decoder's maximum")
        pos = torch.arange(start, start + u, device=tokens.device) + self.position_offset
        x = self.embed_tokens(tokens) * self.embed_scale + self.embed_positions(pos)[None]
        return self.dropout(self.layernorm_embedding(x))

    def forward(
        self,
        tokens: Tensor,
        memory: Tensor,
        memory_lengths: Tensor,
        cache: Optional[Cache] = None,
    ) -> Tensor:
        """Logits (B, U, V) for ``tokens`` (B, U) over ``memory`` (B, T', D).

        With ``cache`` (see ``StModel.decode_step``) ``tokens`` are the new positions only.
        """
        start = 0 if cache is None else int(cache.get("length", 0))
        u = tokens.shape[1]
        x = self._embed(tokens, start)
        ones = torch.ones(u, start + u, dtype=torch.bool, device=tokens.device)
        self_mask = torch.tril(ones, diagonal=start)[None, None]  # (1, 1, U, start + U)
        memory_mask = ~padding_mask(memory_lengths, memory.shape[1])[:, None, None, :]
        layer_caches: List[Optional[dict]] = [None] * len(self.layers)
        if cache is not None:
            layer_caches = cache.setdefault("layers", [{} for _ in self.layers])  # type: ignore
            cache["length"] = start + u
        for layer, layer_cache in zip(self.layers, layer_caches):
            x = layer(x, memory, self_mask, memory_mask, layer_cache)
        return F.linear(self.layer_norm(x), self.embed_tokens.weight)


class StTargets(NamedTuple):
    """Training targets of a batch.

    prev_output_tokens (B, U) decoder input, target (B, U) next tokens, both padded with
    ``pad_id``; source (B, S) source-transcript ids padded with anything and source_lengths
    (B,), for the auxiliary CTC loss only.
    """

    prev_output_tokens: Tensor
    target: Tensor
    source: Optional[Tensor] = None
    source_lengths: Optional[Tensor] = None


class StModel(TaskModel):
    """XLS-R encoder + [CTC head] + [projection] + [length adaptor] + mBART decoder.

    Args:
        encoder: the shared encoder.
        cfg: the head's config.
    """

    log_terms = (
        ("nll", "tokens", "nll/tok", ".3f"),
        ("correct", "tokens", "acc", ".1f%"),
        ("ctc_loss", "utterances", "ctc/utt", ".2f"),
    )

    task_name = "st"

    def __init__(self, encoder: XLSREncoder, cfg: StConfig) -> None:
        super().__init__(encoder)
        self.cfg = cfg
        width, d = encoder.output_dim, cfg.decoder_embed_dim
        if cfg.encoder_proj_layer_norm and not cfg.encoder_proj:
            raise ValueError("encoder_proj_layer_norm needs encoder_proj (fairseq w2v_proj_ln)")
        self.encoder_proj = nn.Linear(width, d) if cfg.encoder_proj else None
        self.encoder_proj_ln = nn.LayerNorm(d) if cfg.encoder_proj_layer_norm else None
        width = d if cfg.encoder_proj else width
        if cfg.adaptor_layers == 0 and width != d:
            raise ValueError(f"encoder width {width} != decoder width {d}: set encoder_proj")
        self.adaptor = None
        if cfg.adaptor_layers > 0:
            self.adaptor = Conv1dAdaptor(
                width, d, cfg.adaptor_layers, cfg.adaptor_kernel, cfg.adaptor_stride
            )
        self.ctc_head = None
        if cfg.ctc_target not in ("source", "target"):
            raise ValueError(f"ctc_target must be 'source' or 'target', got {cfg.ctc_target!r}")
        if cfg.ctc_weight > 0:
            outputs = cfg.vocab_size if cfg.ctc_target == "target" else cfg.source_vocab_size
            if cfg.ctc_target == "source" and outputs <= 1:
                raise ValueError(f"ctc_weight {cfg.ctc_weight} needs source_vocab_size > 1")
            self.ctc_head = nn.Linear(encoder.output_dim, outputs)
        self.decoder = StDecoder(cfg)

    def _bridge(self, hidden: Tensor, frames: Tensor) -> Tuple[Tensor, Tensor]:
        """Encoder output (B, T, C) -> decoder memory (B, T', D) and its lengths (B,)."""
        if self.encoder_proj is not None:
            hidden = self.encoder_proj(hidden)
        if self.encoder_proj_ln is not None:
            hidden = self.encoder_proj_ln(hidden)
        if self.adaptor is not None:
            return self.adaptor(hidden, frames)
        return hidden.masked_fill(padding_mask(frames, hidden.shape[1])[..., None], 0.0), frames

    def encode_for_decoder(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """waveforms (B, S), lengths (B,) -> (memory (B, T', D), memory_lengths (B,))."""
        return self._bridge(*self.encode(waveforms, lengths))

    def decoder_logits(
        self, memory: Tensor, memory_lengths: Tensor, prev_output_tokens: Tensor
    ) -> Tensor:
        """Teacher-forced logits (B, U, V) for ``prev_output_tokens`` (B, U)."""
        return self.decoder(prev_output_tokens, memory, memory_lengths)

    def decode_step(
        self,
        memory: Tensor,
        memory_lengths: Tensor,
        tokens_so_far: Tensor,
        cache: Optional[Cache] = None,
    ) -> Tuple[Tensor, Cache]:
        """Log-probabilities (B, V) of the token after ``tokens_so_far`` (B, t), and the cache.

        The cache holds every layer's keys/values for the ``cache["length"]`` tokens seen so
        far; only the tokens after those run. Start with ``cache=None``; reorder it for beam
        search with ``reorder_cache``.
        """
        cache = {} if cache is None else cache
        new = tokens_so_far[:, int(cache.get("length", 0)) :]
        if new.shape[1] == 0:
            raise ValueError(f"tokens_so_far {tuple(tokens_so_far.shape)} has no new token")
        logits = self.decoder(new, memory, memory_lengths, cache)
        return logits[:, -1].float().log_softmax(dim=-1), cache

    def forward(
        self,
        waveforms: Tensor,
        lengths: Tensor,
        targets: Union[StTargets, Mapping[str, Tensor], None] = None,
    ):
        """Memory without targets; with them the summed loss and its info.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.
            targets: ``StTargets`` (or a dict of its fields).

        Returns:
            (memory (B, T', D), memory_lengths (B,)) without targets; with them (loss, info),
            info: utterances, frames, tokens, nll, ctc_loss, ctc_infeasible, correct.
        """
        hidden, frames = self.encode(waveforms, lengths)
        memory, memory_lengths = self._bridge(hidden, frames)
        if targets is None:
            return memory, memory_lengths
        if not isinstance(targets, StTargets):
            targets = StTargets(**targets)
        logits = self.decoder(targets.prev_output_tokens, memory, memory_lengths)
        loss, info = self.translation_loss(logits, targets.target)
        info["utterances"], info["frames"] = float(waveforms.shape[0]), float(frames.sum())
        info["ctc_loss"], info["ctc_infeasible"] = 0.0, 0.0
        if self.ctc_head is not None:
            ctc, info["ctc_infeasible"] = self.ctc_loss(hidden, frames, targets)
            info["ctc_loss"] = float(ctc.detach())
            loss = loss + self.cfg.ctc_weight * ctc
        return loss, info

    def translation_loss(self, logits: Tensor, target: Tensor) -> Tuple[Tensor, Dict[str, float]]:
        """Summed label-smoothed cross-entropy over the non-pad tokens of ``target`` (B, U).

        fairseq ``label_smoothed_nll_loss``: ``(1 - eps - eps/(V-1)) nll + eps/(V-1) sum_v
        -log p_v``, i.e. the cross-entropy against ``1 - eps`` on the target and ``eps/(V-1)``
        on every other token.
        """
        if logits.shape[:2] != target.shape:
            raise ValueError(f"logits {tuple(logits.shape)} for target {tuple(target.shape)}")
        lprobs = logits.float().log_softmax(dim=-1)
        keep = target != self.cfg.pad_id
        lp, tgt = lprobs[keep], target[keep]  # (N, V), (N,)
        nll = -lp.gather(1, tgt[:, None]).squeeze(1).sum()
        smooth = -lp.sum()
        eps, v = self.cfg.label_smoothing, lprobs.shape[-1]
        eps_i = eps / (v - 1)
        loss = (1.0 - eps - eps_i) * nll + eps_i * smooth
        correct = float((lp.argmax(-1) == tgt).sum())
        return loss, {"tokens": float(keep.sum()), "nll": float(nll.detach()), "correct": correct}

    def ctc_loss(self, hidden: Tensor, frames: Tensor, targets: StTargets) -> Tuple[Tensor, float]:
        """Summed CTC loss of the source transcript over the feasible utterances, and the
        number of infeasible ones (they contribute nothing, fairseq ``zero_infinity``)."""
        assert self.ctc_head is not None
        log_probs = self.ctc_head(hidden).float().log_softmax(dim=-1)
        if self.cfg.ctc_target == "target":
            sources = [self.target_ctc_tokens(row.tolist()) for row in targets.target]
        elif targets.source is None or targets.source_lengths is None:
            raise ValueError("ctc_weight > 0 needs targets.source and targets.source_lengths")
        else:
            lengths = targets.source_lengths.tolist()
            sources = [row[:n].tolist() for row, n in zip(targets.source, lengths)]
        per_utt = torch_ctc_loss(log_probs, frames, sources)
        finite = torch.isfinite(per_utt)
        return per_utt[finite].sum(), float((~finite).sum())

    def target_ctc_tokens(self, target: Sequence[int]) -> List[int]:
        """The target CTC's label sequence of a target row ``<lang> tokens </s> pad...``:
        the tokens (no language tag, eos or pad)."""
        cfg = self.cfg
        return [t for t in list(target)[1:] if t not in (cfg.eos_id, cfg.pad_id)]


def reorder_cache(cache: Cache, order: Tensor, parts: Optional[Sequence[str]] = None) -> Cache:
    """The cache of ``decode_step`` with its batch rows picked by ``order`` (beam search);
    ``parts`` ("self", "cross"): only those are reordered, the others kept as they are (the
    cross-attention keys / values of the beams of one utterance are the same)."""
    layers = [
        {
            part: {k: t.index_select(0, order) for k, t in kv.items()}
            if parts is None or part in parts
            else kv
            for part, kv in lc.items()
        }
        for lc in cache.get("layers", [])  # type: ignore[union-attr]
    ]
    return {"length": cache.get("length", 0), "layers": layers}


# ------------------------------------------------------------------------------ key maps
# Per-layer keys use ``{n}``; suffixes ``weight``/``bias`` follow each module name.

_DECODER_LAYER_MODULES = (
    "self_attn.q_proj",
    "self_attn.k_proj",
    "self_attn.v_proj",
    "self_attn.out_proj",
    "self_attn_layer_norm",
    "encoder_attn.q_proj",
    "encoder_attn.k_proj",
    "encoder_attn.v_proj",
    "encoder_attn.out_proj",
    "encoder_attn_layer_norm",
    "fc1",
    "fc2",
    "final_layer_norm",
)

#: fairseq xm_transformer key -> ours (None: tied or unused, not loaded).
FAIRSEQ_ST_KEYS: Dict[str, Optional[str]] = {
    "encoder.w2v_encoder.proj.{p}": "encoder_proj.{p}",
    "encoder.w2v_proj_ln.{p}": "encoder_proj_ln.{p}",
    "encoder.adaptor.layers.{n}.{p}": "adaptor.layers.{n}.{p}",
    "decoder.embed_tokens.weight": "decoder.embed_tokens.weight",
    "decoder.embed_positions.weight": "decoder.embed_positions.weight",
    "decoder.layernorm_embedding.{p}": "decoder.layernorm_embedding.{p}",
    "decoder.layer_norm.{p}": "decoder.layer_norm.{p}",
    "decoder.output_projection.weight": None,  # tied to decoder.embed_tokens.weight
    **{
        f"decoder.layers.{{n}}.{m}.{{p}}": f"decoder.layers.{{n}}.{m}.{{p}}"
        for m in _DECODER_LAYER_MODULES
    },
}

#: Hugging Face MBartForCausalLM (SpeechEncoderDecoderModel's ``decoder.``) key -> ours.
HF_DECODER_KEYS: Dict[str, Optional[str]] = {
    "model.decoder.embed_tokens.weight": "decoder.embed_tokens.weight",
    "model.decoder.embed_positions.weight": "decoder.embed_positions.weight",
    "model.decoder.layernorm_embedding.{p}": "decoder.layernorm_embedding.{p}",
    "model.decoder.layer_norm.{p}": "decoder.layer_norm.{p}",
    "lm_head.weight": None,  # tied to model.decoder.embed_tokens.weight
    **{
        f"model.decoder.layers.{{n}}.{m}.{{p}}": f"decoder.layers.{{n}}.{m}.{{p}}"
        for m in _DECODER_LAYER_MODULES
    },
}


def map_state_dict(
    state: Mapping[str, Tensor], key_map: Mapping[str, Optional[str]]
) -> Dict[str, Tensor]:
    """``state`` renamed by ``key_map`` (``{n}`` over layers 0, 1, ... while present, ``{p}``
    over weight/bias); keys mapped to None and keys the map does not name are left out."""
    out: Dict[str, Tensor] = {}
    for src, dst in key_map.items():
        if dst is None:
            continue
        params = ("weight", "bias") if "{p}" in src else ("",)
        for n in itertools.count() if "{n}" in src else (0,):
            found = [p for p in params if src.format(n=n, p=p) in state]
            for p in found:
                out[dst.format(n=n, p=p)] = state[src.format(n=n, p=p)]
            if not found:
                break
    return out
