"""The CTC head on the XLS-R encoder, trained with k2's CTC loss (or torch's).

fairseq's ``Wav2VecCtc``: dropout (``final_dropout``) and a linear projection to the
tokens; token 0 is the blank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.models.base import TaskModel
from xlsr.models.encoder import XLSREncoder


@dataclass
class CtcConfig:
    vocab_size: int = 500  # output tokens including the blank (id 0)
    final_dropout: float = 0.0  # fairseq final_dropout, before the projection
    loss: str = "k2"  # "k2" (k2.ctc_loss on graphs from CtcGraphCompiler) or "torch"
    modified_topo: bool = False  # k2 only: the modified CTC topology
    output_beam: float = 10.0  # k2 only: pruning beam of the loss lattice


class CtcModel(TaskModel):
    """XLS-R encoder + CTC projection.

    Args:
        encoder: the shared encoder.
        cfg: head config.
    """

    task_name = "asr_ctc"

    def __init__(self, encoder: XLSREncoder, cfg: CtcConfig) -> None:
        super().__init__(encoder)
        if cfg.loss not in ("k2", "torch"):
            raise ValueError(f"CtcConfig.loss must be 'k2' or 'torch', got {cfg.loss!r}")
        self.cfg = cfg
        self.dropout = nn.Dropout(cfg.final_dropout)
        self.output = nn.Linear(encoder.output_dim, cfg.vocab_size)
        self._compiler = None

    def forward(
        self, waveforms: Tensor, lengths: Tensor, targets: Optional[Sequence[Sequence[int]]] = None
    ):
        """Log-posteriors, or with ``targets`` the loss.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.
            targets: B token-id lists, for training.

        Returns:
            (log_probs (B, T, V), frames (B,)) without targets; ``self.loss(...)``'s
            (loss, info) with them.
        """
        hidden, frames = self.encode(waveforms, lengths)
        log_probs = self.output(self.dropout(hidden)).float().log_softmax(dim=-1)
        if targets is None:
            return log_probs, frames
        return self.loss(log_probs, frames, targets)

    def loss(
        self, log_probs: Tensor, frames: Tensor, targets: Sequence[Sequence[int]]
    ) -> Tuple[Tensor, Dict[str, float]]:
        """Summed CTC loss over the utterances whose loss is finite.

        Utterances with an infinite loss (more tokens than frames can carry) contribute
        nothing and are counted in ``info["infeasible"]`` (fairseq ``zero_infinity``).

        Returns:
            (loss, info) with info: utterances, frames, tokens, infeasible.
        """
        if len(targets) != log_probs.shape[0]:
            raise ValueError(f"{len(targets)} targets for a batch of {log_probs.shape[0]}")
        if self.cfg.loss == "k2":
            per_utt = self._k2_loss(log_probs, frames, targets)
        else:
            per_utt = torch_ctc_loss(log_probs, frames, targets)
        finite = torch.isfinite(per_utt)
        loss = per_utt[finite].sum()
        info = {
            "utterances": float(finite.sum()),
            "frames": float(frames[finite.to(frames.device)].sum()),
            "tokens": float(sum(len(t) for t, ok in zip(targets, finite.tolist()) if ok)),
            "infeasible": float((~finite).sum()),
        }
        return loss, info

    def _k2_loss(self, log_probs: Tensor, frames: Tensor, targets) -> Tensor:
        from xlsr.graph.compile import CtcGraphCompiler

        if self._compiler is None:
            self._compiler = CtcGraphCompiler(self.cfg.modified_topo, log_probs.device)
        return k2_ctc_loss(log_probs, frames, targets, self._compiler, self.cfg.output_beam)


def torch_ctc_loss(log_probs: Tensor, frames: Tensor, targets) -> Tensor:
    """Per-utterance CTC loss with ``F.ctc_loss`` (inf where infeasible), shape (B,)."""
    flat = torch.tensor([t for ts in targets for t in ts], dtype=torch.long)
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    return F.ctc_loss(
        log_probs.transpose(0, 1),
        flat.to(log_probs.device),
        frames.cpu(),
        target_lengths,
        blank=0,
        reduction="none",
        zero_infinity=False,
    )


def k2_ctc_loss(log_probs: Tensor, frames: Tensor, targets, compiler, output_beam: float):
    """Per-utterance CTC loss through k2 (inf where infeasible), shape (B,)."""
    from xlsr.graph.k2_utils import require_k2

    k2 = require_k2("k2 CTC loss")
    b = log_probs.shape[0]
    order = torch.argsort(frames.cpu(), descending=True)  # DenseFsaVec wants this order
    segments = torch.stack(
        [order, torch.zeros(b, dtype=torch.long), frames.cpu()[order]], dim=1
    ).to(torch.int32)
    graphs = compiler.compile([list(targets[i]) for i in order.tolist()])
    dense = k2.DenseFsaVec(log_probs, segments)
    sorted_loss = k2.ctc_loss(
        graphs, dense, output_beam=output_beam, reduction="none", use_double_scores=True
    )
    per_utt = torch.empty_like(sorted_loss)
    per_utt[order.to(per_utt.device)] = sorted_loss
    return per_utt
