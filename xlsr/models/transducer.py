"""The pruned transducer head on the XLS-R encoder (icefall's stateless transducer).

A stateless prediction network (:class:`Decoder`: an embedding and a 1-D convolution over the
last ``context_size`` tokens, no recurrence), a :class:`Joiner` (encoder and decoder
projections, tanh, output layer), and simple (linear) encoder/decoder projections for k2's
smoothed "simple" loss that gives the pruning ranges. Token 0 is the blank; the prediction
network starts every sequence from ``context_size`` blanks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.models.base import TaskModel
from xlsr.models.encoder import XLSREncoder

Targets = Sequence[Sequence[int]]


@dataclass
class TransducerConfig:
    vocab_size: int = 500  # output tokens including the blank (id 0)
    decoder_dim: int = 512  # prediction network width (icefall --decoder-dim)
    joiner_dim: int = 512  # joiner hidden width (icefall --joiner-dim)
    context_size: int = 2  # tokens the stateless decoder sees (2 = bigram)
    prune_range: int = 5  # symbols per frame kept by the pruned loss (icefall --prune-range)
    lm_scale: float = 0.25  # smoothed simple loss: weight of the LM-only part
    am_scale: float = 0.0  # smoothed simple loss: weight of the AM-only part
    simple_loss_scale: float = 0.5  # weight of the simple loss after warm-up
    warm_step: int = 2000  # updates over which the loss weights move to their final values
    ctc_loss_scale: float = 0.0  # > 0 adds an auxiliary CTC loss on the same encoder


class Decoder(nn.Module):
    """Stateless prediction network: embedding, then a grouped 1-D convolution over the last
    ``context_size`` tokens, then ReLU.

    Args:
        vocab_size: tokens including the blank.
        decoder_dim: embedding and output width.
        context_size: tokens looked at (1: the embedding of the last token only).
        blank_id: the blank, also the start-of-sequence context and embedding padding.
    """

    def __init__(self, vocab_size: int, decoder_dim: int, context_size: int, blank_id: int = 0):
        super().__init__()
        if context_size < 1:
            raise ValueError(f"context_size must be >= 1, got {context_size}")
        self.vocab_size, self.blank_id, self.context_size = vocab_size, blank_id, context_size
        self.embedding = nn.Embedding(vocab_size, decoder_dim, padding_idx=blank_id)
        self.conv = None
        if context_size > 1:
            # icefall: groups of 4 channels; one group where decoder_dim is not a multiple of 4
            groups = decoder_dim // 4 if decoder_dim % 4 == 0 else 1
            self.conv = nn.Conv1d(decoder_dim, decoder_dim, context_size, groups=groups, bias=False)

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        """Decoder output for each position.

        Args:
            y (Tensor): (batch, U) token ids. With ``need_pad`` position u sees
                ``y[u - context_size + 1 .. u]`` (blanks before the start); without it, ``y``
                holds exactly ``context_size`` tokens per row and the output has one position
                (the decoding form).

        Returns:
            Tensor: (batch, U, decoder_dim) with ``need_pad``, else (batch, 1, decoder_dim).
        """
        if y.dim() != 2:
            raise ValueError(f"Decoder: y must be (batch, U), got {tuple(y.shape)}")
        y = y.clamp(min=0)
        if self.conv is not None:
            if need_pad:  # blank tokens (not zero vectors): the same as the decoding form
                y = F.pad(y, (self.context_size - 1, 0), value=self.blank_id)
            elif y.shape[1] != self.context_size:
                raise ValueError(
                    f"Decoder: need_pad=False wants {self.context_size} context tokens per "
                    f"row, got {y.shape[1]}"
                )
            emb = self.conv(self.embedding(y).permute(0, 2, 1)).permute(0, 2, 1)
        else:
            emb = self.embedding(y)
            if not need_pad:
                emb = emb[:, -1:]
        return F.relu(emb)


class Joiner(nn.Module):
    """``output_linear(tanh(encoder_proj(enc) + decoder_proj(dec)))``."""

    def __init__(self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int):
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, joiner_dim)
        self.decoder_proj = nn.Linear(decoder_dim, joiner_dim)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def forward(self, enc: Tensor, dec: Tensor, project_input: bool = True) -> Tensor:
        """Logits (unnormalised) over the tokens.

        Args:
            enc (Tensor): (..., encoder_dim), or (..., joiner_dim) when already projected.
            dec (Tensor): (..., decoder_dim), or (..., joiner_dim) when already projected;
                broadcastable against ``enc``.
            project_input: apply ``encoder_proj`` / ``decoder_proj`` first.

        Returns:
            Tensor: (..., vocab_size).
        """
        if project_input:
            enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
        return self.output_linear(torch.tanh(enc + dec))


class TransducerModel(TaskModel):
    """XLS-R encoder + stateless decoder + joiner (+ optional auxiliary CTC output).

    Args:
        encoder: the shared encoder.
        cfg: head config.
    """

    task_name = "asr_transducer"
    log_terms = (
        ("simple_loss", "utterances", "simple/utt", ".2f"),
        ("pruned_loss", "utterances", "pruned/utt", ".2f"),
        ("ctc_loss", "utterances", "ctc/utt", ".2f"),
    )

    def __init__(self, encoder: XLSREncoder, cfg: TransducerConfig) -> None:
        super().__init__(encoder)
        self.cfg = cfg
        dim = encoder.output_dim
        self.decoder = Decoder(cfg.vocab_size, cfg.decoder_dim, cfg.context_size, blank_id=0)
        self.joiner = Joiner(dim, cfg.decoder_dim, cfg.joiner_dim, cfg.vocab_size)
        self.simple_am_proj = nn.Linear(dim, cfg.vocab_size)
        self.simple_lm_proj = nn.Linear(cfg.decoder_dim, cfg.vocab_size)
        self.ctc_output = nn.Linear(dim, cfg.vocab_size) if cfg.ctc_loss_scale > 0 else None

    @property
    def blank_id(self) -> int:
        return self.decoder.blank_id

    def forward(self, waveforms: Tensor, lengths: Tensor, targets: Optional[Targets] = None):
        """Encoder output, or with ``targets`` the loss.

        The loss is computed inside ``forward`` because it uses the decoder and joiner: DDP
        and FSDP only see the parameters that ``forward`` uses.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.
            targets: B token-id lists, for training.

        Returns:
            (encoder_out (B, T, D), frames (B,)) without targets; ``self.loss(...)``'s
            (loss, info) with them.
        """
        encoder_out, frames = self.encode(waveforms, lengths)
        if targets is None:
            return encoder_out, frames
        return self.loss(encoder_out, frames, targets)

    def loss_scales(self) -> Tuple[float, float]:
        """(simple, pruned) loss weights at ``self.num_updates`` (icefall
        pruned_transducer_stateless7): during the first ``warm_step`` updates the simple loss
        weight falls linearly from 1 to ``simple_loss_scale`` and the pruned loss weight rises
        from 0.1 to 1, as the pruning ranges are poor while the simple loss is untrained."""
        n, w, s = self.num_updates, self.cfg.warm_step, self.cfg.simple_loss_scale
        if n >= w:
            return s, 1.0
        return 1.0 - (n / w) * (1.0 - s), 0.1 + 0.9 * n / w

    def loss(
        self, encoder_out: Tensor, frames: Tensor, targets: Targets
    ) -> Tuple[Tensor, Dict[str, float]]:
        """Summed pruned RNN-T loss (+ weighted simple loss, + optional auxiliary CTC loss).

        An utterance is infeasible and contributes nothing (it is counted in
        ``info["infeasible"]``) when it has no frames, more tokens than frames (icefall drops
        those cuts: k2's pruned loss needs T >= U), or a non-finite loss.

        Args:
            encoder_out (Tensor): (B, T, encoder_dim), frames past ``frames[b]`` are padding.
            frames (Tensor): (B,) valid frames per utterance.
            targets: B token-id lists without blanks (ids 1 .. vocab_size - 1); may be empty.

        Returns:
            (loss, info): the weighted loss summed over the kept utterances, and info with
            utterances, frames, tokens, infeasible, simple_loss, pruned_loss (+ ctc_loss),
            each summed over the kept utterances (the losses unweighted).
        """
        self._check_inputs(encoder_out, frames, targets)
        b = encoder_out.shape[0]
        frames_cpu = frames.detach().cpu().long()
        ok = [n > 0 and len(t) <= n for t, n in zip(targets, frames_cpu.tolist())]
        keep = [i for i in range(b) if ok[i]]
        parts: Dict[str, Tensor] = {}
        if keep:
            idx = torch.tensor(keep, dtype=torch.long, device=encoder_out.device)
            sub_frames, sub_targets = frames_cpu[keep], [targets[i] for i in keep]
            sub_out = encoder_out.index_select(0, idx)[:, : int(sub_frames.max())]
            simple, pruned = self.rnnt_losses(sub_out, sub_frames, sub_targets)
            parts = {"simple_loss": simple, "pruned_loss": pruned}
            if self.ctc_output is not None:
                parts["ctc_loss"] = self._ctc_loss(sub_out, sub_frames, sub_targets)
            inf = encoder_out.new_full((b,), float("inf"), dtype=torch.float32)
            parts = {k: inf.index_copy(0, idx, v.float()) for k, v in parts.items()}
        return self._combine(parts, encoder_out, frames_cpu, targets)

    def _check_inputs(self, encoder_out: Tensor, frames: Tensor, targets: Targets) -> None:
        if encoder_out.dim() != 3:
            raise ValueError(f"encoder_out must be (B, T, D), got {tuple(encoder_out.shape)}")
        b, t = encoder_out.shape[:2]
        if frames.shape != (b,):
            raise ValueError(
                f"frames must be ({b},) for encoder_out {tuple(encoder_out.shape)}, "
                f"got {tuple(frames.shape)}"
            )
        if len(targets) != b:
            raise ValueError(f"{len(targets)} targets for a batch of {b}")
        if b and int(frames.max()) > t:
            raise ValueError(f"frames up to {int(frames.max())} for encoder_out of {t} frames")
        bad = [tok for ts in targets for tok in ts if not 0 < tok < self.cfg.vocab_size]
        if bad:
            raise ValueError(
                f"target ids must be in 1..{self.cfg.vocab_size - 1} (0 is the "
                f"blank), found {sorted(set(bad))[:5]}"
            )

    def _combine(
        self, parts: Dict[str, Tensor], encoder_out: Tensor, frames: Tensor, targets: Targets
    ) -> Tuple[Tensor, Dict[str, float]]:
        """Weights the per-utterance losses (B,) and drops the non-finite utterances."""
        b = len(targets)
        simple_scale, pruned_scale = self.loss_scales()
        scales = {
            "simple_loss": simple_scale,
            "pruned_loss": pruned_scale,
            "ctc_loss": self.cfg.ctc_loss_scale,
        }
        finite = torch.zeros(b, dtype=torch.bool)
        if parts:
            per_utt = sum(scales[k] * v for k, v in parts.items())
            finite = torch.isfinite(per_utt).cpu()
        if finite.any():
            loss = per_utt[finite.to(per_utt.device)].sum()
        else:  # keeps every parameter in the graph (DDP), with a zero gradient
            params = [p.sum() for p in self.parameters() if p.requires_grad]
            loss = encoder_out.new_zeros((), dtype=torch.float32) + sum(params) * 0.0
        info = {
            "utterances": float(finite.sum()),
            "frames": float(frames[finite].sum()),
            "tokens": float(sum(len(t) for t, k in zip(targets, finite.tolist()) if k)),
            "infeasible": float((~finite).sum()),
        }
        for k, v in parts.items():
            info[k] = float(v.detach()[finite.to(v.device)].sum())
        if not parts:
            info.update(simple_loss=0.0, pruned_loss=0.0)
            if self.ctc_output is not None:
                info["ctc_loss"] = 0.0
        return loss, info

    def rnnt_losses(
        self, encoder_out: Tensor, frames: Tensor, targets: Targets
    ) -> Tuple[Tensor, Tensor]:
        """Per-utterance simple (smoothed) and pruned RNN-T losses through k2.

        Every utterance must have ``len(targets[b]) <= frames[b]`` and ``frames[b] >= 1``
        (``loss`` drops the others first): k2 asserts T >= S on the padded shapes.

        Args:
            encoder_out (Tensor): (B, T, encoder_dim) with T >= frames.max().
            frames (Tensor): (B,) valid frames.
            targets: B token-id lists, possibly empty.

        Returns:
            (simple, pruned): two (B,) float32 tensors (negated log-likelihoods).
        """
        from xlsr.graph.k2_utils import require_k2

        k2 = require_k2("k2 pruned RNN-T loss")
        device, blank = encoder_out.device, self.blank_id
        b = encoder_out.shape[0]
        lens = torch.tensor([len(t) for t in targets], dtype=torch.long)
        s = max(1, int(lens.max()))  # k2 asserts S >= 1: an all-empty batch gets one pad column
        y = torch.full((b, s), blank, dtype=torch.long)
        for i, t in enumerate(targets):
            y[i, : len(t)] = torch.as_tensor(list(t), dtype=torch.long)
        y = y.to(device)
        boundary = torch.zeros((b, 4), dtype=torch.long)
        boundary[:, 2], boundary[:, 3] = lens, frames.detach().cpu().long()
        boundary = boundary.to(device)
        decoder_out = self.decoder(F.pad(y, (1, 0), value=blank))  # (B, S + 1, decoder_dim)
        with torch.autocast(device.type, enabled=False):  # k2's sums need float32
            simple, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
                lm=self.simple_lm_proj(decoder_out).float(),
                am=self.simple_am_proj(encoder_out).float(),
                symbols=y,
                termination_symbol=blank,
                lm_only_scale=self.cfg.lm_scale,
                am_only_scale=self.cfg.am_scale,
                boundary=boundary,
                reduction="none",
                return_grad=True,
            )
        ranges = k2.get_rnnt_prune_ranges(px_grad, py_grad, boundary, self.cfg.prune_range)
        am_pruned, lm_pruned = k2.do_rnnt_pruning(  # (B, T, prune_range, joiner_dim) each
            self.joiner.encoder_proj(encoder_out), self.joiner.decoder_proj(decoder_out), ranges
        )
        logits = self.joiner(am_pruned, lm_pruned, project_input=False)
        with torch.autocast(device.type, enabled=False):
            pruned = k2.rnnt_loss_pruned(
                logits=logits.float(),
                symbols=y,
                ranges=ranges,
                termination_symbol=blank,
                boundary=boundary,
                reduction="none",
            )
        return simple, pruned

    def _ctc_loss(self, encoder_out: Tensor, frames: Tensor, targets: Targets) -> Tensor:
        """Per-utterance auxiliary CTC loss (B,), zero where CTC cannot align the targets."""
        log_probs = self.ctc_output(encoder_out).float().log_softmax(dim=-1)
        flat = torch.tensor([t for ts in targets for t in ts], dtype=torch.long)
        target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
        return F.ctc_loss(
            log_probs.transpose(0, 1),
            flat.to(log_probs.device),
            frames.cpu(),
            target_lengths,
            blank=self.blank_id,
            reduction="none",
            zero_infinity=True,
        )
