"""The utterance classifier on the XLS-R encoder (language ID, speaker ID).

fairseq's ``wav2vec_classification`` model with ``pooling: mean`` (its ``MeanPoolingFast``):
a per-frame ``Linear(D -> latent)``, the mean over the real frames, the activation, then
``Linear(latent -> classes)``. The parameters keep fairseq's names and shapes
(``pooling_layer.linear``, ``pooling_layer.projection``), so the released XLS-R LID
checkpoint maps onto this module key for key (the encoder under ``w2v_encoder.w2v_model``).

Unlike fairseq, the mean is over exactly the real frames of each utterance (``frames``), so
an utterance gives the same logits alone or in a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.models.base import TaskModel
from xlsr.models.encoder import XLSREncoder

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "tanh": torch.tanh, "linear": lambda x: x}


@dataclass
class ClassifierConfig:
    num_classes: int = 2  # labels (the label dictionary's size); fairseq len(target_dictionary)
    latent_dim: int = 0  # fairseq latent_embed_dim: width after the per-frame linear (0: D)
    activation: str = "gelu"  # fairseq activation_fn, applied to the pooled vector
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0: none)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


def masked_mean(x: Tensor, frames: Tensor) -> Tensor:
    """Mean over the first ``frames[b]`` frames of each utterance.

    Args:
        x (Tensor): (B, T, D).
        frames (Tensor): (B,) real frames, each >= 1.

    Returns:
        Tensor: (B, D).
    """
    mask = torch.arange(x.shape[1], device=x.device)[None, :] < frames.to(x.device)[:, None]
    total = (x * mask[..., None].to(x.dtype)).sum(dim=1)
    return total / frames.to(x.device, x.dtype).clamp(min=1)[:, None]


class MeanPooling(nn.Module):
    """``linear`` per frame, masked mean, activation, ``projection`` (fairseq's names)."""

    def __init__(self, input_dim: int, cfg: ClassifierConfig) -> None:
        super().__init__()
        latent = cfg.latent_dim or input_dim
        self.activation = ACTIVATIONS[cfg.activation]
        self.linear = nn.Linear(input_dim, latent)
        self.projection = nn.Linear(latent, cfg.num_classes)

    def embed(self, hidden: Tensor, frames: Tensor) -> Tensor:
        """(B, T, D) hidden states -> (B, latent) pooled vectors (before the activation)."""
        return masked_mean(self.linear(hidden), frames)

    def forward(self, hidden: Tensor, frames: Tensor) -> Tensor:
        """(B, T, D) hidden states, (B,) frames -> (B, classes) logits."""
        return self.projection(self.activation(self.embed(hidden, frames)))


class ClassifierModel(TaskModel):
    """XLS-R encoder + mean-pooling classifier.

    Args:
        encoder: the shared encoder.
        cfg: head config.
    """

    task_name = "classification"

    def __init__(self, encoder: XLSREncoder, cfg: ClassifierConfig) -> None:
        super().__init__(encoder)
        self.cfg = cfg
        self.pooling_layer = MeanPooling(encoder.output_dim, cfg)

    def forward(self, waveforms: Tensor, lengths: Tensor, targets=None):
        """Logits, or with ``targets`` the loss.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.
            targets (Tensor): (B,) class ids, for training.

        Returns:
            (logits (B, classes), frames (B,)) without targets; (summed cross-entropy,
            info with ``utterances``, ``frames``, ``correct``) with them.
        """
        hidden, frames = self.encode(waveforms, lengths)
        logits = self.pooling_layer(hidden, frames)
        if targets is None:
            return logits, frames
        return self.loss(logits, frames, torch.as_tensor(targets, device=logits.device))

    def embed(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """Utterance embeddings for speaker verification: the pooled vector before the
        activation and the projection (for mean pooling ``pooling_layer.embed``: the mean of
        ``linear`` over the real frames). Padding does not change an utterance's embedding.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.

        Returns:
            (embeddings (B, E), frames (B,)); E is the latent width (``latent_dim`` or D).
        """
        hidden, frames = self.encode(waveforms, lengths)
        return self.pooling_layer.embed(hidden, frames), frames

    def loss(
        self, logits: Tensor, frames: Tensor, targets: Tensor
    ) -> Tuple[Tensor, Dict[str, float]]:
        if targets.shape != logits.shape[:1]:
            raise ValueError(f"{tuple(targets.shape)} targets for {logits.shape[0]} utterances")
        loss = F.cross_entropy(
            logits.float(),
            targets.long(),
            reduction="sum",
            label_smoothing=self.cfg.label_smoothing,
        )
        info = {
            "utterances": float(logits.shape[0]),
            "frames": float(frames.sum()),
            "correct": float((logits.argmax(-1) == targets).sum()),
        }
        return loss, info
