"""The utterance classifier on the XLS-R encoder (language ID, speaker ID).

The default is fairseq's ``wav2vec_classification`` model with ``pooling: mean`` (its
``MeanPoolingFast``): a per-frame ``Linear(D -> latent)``, the mean over the real frames, the
activation, then ``Linear(latent -> classes)``. The parameters keep fairseq's names and shapes
(``pooling_layer.linear``, ``pooling_layer.projection``), so the released XLS-R LID
checkpoint maps onto this module key for key (the encoder under ``w2v_encoder.w2v_model``).
Unlike fairseq, the mean is over exactly the real frames of each utterance (``frames``), so
an utterance gives the same logits alone or in a padded batch.

Options (:class:`ClassifierConfig`), each off by default:

==========================  ==============================================================
``weighted_layer_sum``      the pooling reads softmax(``layer_weights``) times the encoder's
                            num_layers + 1 hidden states (HF ``use_weighted_layer_sum``)
``pooling="attentive_stats"``  attention-weighted mean and standard deviation (Okabe et al.
                            2018): ``projection`` is ``Linear(2 * latent -> classes)``
``loss="aam"``              additive angular margin softmax (ArcFace): cosine logits
``freeze_encoder``          the encoder never trains (HF ``freeze_base_model``)
==========================  ==============================================================

:meth:`ClassifierModel.embed` gives the utterance embedding for speaker verification;
:meth:`ClassifierModel.logits_and_embeddings` the logits and the embeddings of one encoder pass.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.models.base import TaskModel
from xlsr.models.components import padding_mask
from xlsr.models.encoder import XLSREncoder

ACTIVATIONS = {"gelu": F.gelu, "relu": F.relu, "tanh": torch.tanh, "linear": lambda x: x}
LOSSES = ("ce", "aam")
#: attentive statistics pooling: the variance is clamped here before its square root, so a
#: constant (or one-frame) utterance has a finite gradient
VARIANCE_FLOOR = 1e-6


@dataclass
class ClassifierConfig:
    num_classes: int = 2  # labels (the label dictionary's size); fairseq len(target_dictionary)
    latent_dim: int = 0  # fairseq latent_embed_dim: width after the per-frame linear (0: D)
    activation: str = "gelu"  # fairseq activation_fn, applied to the pooled vector
    label_smoothing: float = 0.0  # cross-entropy label smoothing (0: none), with either loss
    # fairseq wav2vec_classification pooling ("mean"); "attentive_stats": attentive
    # statistics pooling (Okabe et al. 2018, "Attentive Statistics Pooling for Deep Speaker
    # Embedding"), the x-vector pooling of SpeechBrain's ECAPA-TDNN
    pooling: str = "mean"
    attention_dim: int = 128  # attentive_stats: hidden width of the frame-scoring MLP (Okabe's W)
    # HF use_weighted_layer_sum (SUPERB's weighted sum of the upstream's layers): the pooling
    # reads softmax(layer_weights) times the num_layers + 1 hidden states
    weighted_layer_sum: bool = False
    # weighted_layer_sum on a layer_norm_first encoder: the last hidden state after the final
    # LayerNorm, as transformers 4.x returns it (= the encoder output); False: before it, as
    # transformers 5.x does (a model trained under transformers 5)
    layer_sum_final_norm: bool = True
    # "ce": cross-entropy on the projection's logits; "aam": additive angular margin softmax
    # (ArcFace, Deng et al. 2019; SpeechBrain AdditiveAngularMargin, WeSpeaker ArcMarginProduct)
    loss: str = "ce"
    aam_margin: float = 0.2  # ArcFace m: angle (radians) added to the target class in training
    aam_scale: float = 30.0  # ArcFace s: the cosines' scale
    # HF freeze_base_model; SUPERB's frozen upstream: the encoder never trains (no gradients,
    # eval mode); fairseq freeze_finetune_updates freezes it for the first updates only
    freeze_encoder: bool = False

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.latent_dim < 0:
            raise ValueError(
                f"latent_dim must be >= 0 (0: the encoder width), got {self.latent_dim}"
            )
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)}, got {self.pooling!r}")
        if self.attention_dim < 1:
            raise ValueError(f"attention_dim must be >= 1, got {self.attention_dim}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}")
        if not 0.0 <= self.aam_margin < math.pi / 2:
            raise ValueError(f"aam_margin must be in [0, pi/2) radians, got {self.aam_margin}")
        if self.aam_scale <= 0:
            raise ValueError(f"aam_scale must be > 0, got {self.aam_scale}")


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

    #: statistics per latent channel in the pooled vector (its width is stats * latent)
    stats = 1

    def __init__(self, input_dim: int, cfg: ClassifierConfig) -> None:
        super().__init__()
        latent = cfg.latent_dim or input_dim
        self.activation = ACTIVATIONS[cfg.activation]
        self.embed_dim = self.stats * latent
        self.linear = nn.Linear(input_dim, latent)
        self.projection = nn.Linear(self.embed_dim, cfg.num_classes)

    def embed(self, hidden: Tensor, frames: Tensor) -> Tensor:
        """(B, T, D) hidden states -> (B, latent) pooled vectors (before the activation)."""
        return masked_mean(self.linear(hidden), frames)

    def forward(self, hidden: Tensor, frames: Tensor) -> Tensor:
        """(B, T, D) hidden states, (B,) frames -> (B, classes) logits."""
        return self.projection(self.activation(self.embed(hidden, frames)))


class AttentiveStatsPooling(MeanPooling):
    """Attentive statistics pooling (Okabe et al. 2018) after the per-frame ``linear``.

    A frame's score is ``attention_score(tanh(attention_linear(x_t)))``; the softmax of the
    scores over the real frames weighs the mean and the standard deviation of ``x``; the two
    are concatenated, so ``projection`` is ``Linear(2 * latent -> classes)``.
    """

    stats = 2

    def __init__(self, input_dim: int, cfg: ClassifierConfig) -> None:
        super().__init__(input_dim, cfg)
        latent = self.linear.out_features
        self.attention_linear = nn.Linear(latent, cfg.attention_dim)
        self.attention_score = nn.Linear(cfg.attention_dim, 1)

    def embed(self, hidden: Tensor, frames: Tensor) -> Tensor:
        """(B, T, D) hidden states, (B,) frames -> (B, 2 * latent): [mean, std] (float32
        statistics, returned in the hidden states' dtype). Padded frames get weight 0."""
        x = self.linear(hidden)
        scores = self.attention_score(torch.tanh(self.attention_linear(x))).squeeze(-1)
        pad = padding_mask(frames.to(x.device), x.shape[1])
        weights = scores.float().masked_fill(pad, float("-inf")).softmax(dim=1)[..., None]
        x32 = x.float()
        mean = (weights * x32).sum(dim=1)
        var = (weights * (x32 - mean[:, None]) ** 2).sum(dim=1)
        std = var.clamp(min=VARIANCE_FLOOR).sqrt()
        return torch.cat([mean, std], dim=-1).to(x.dtype)


POOLINGS = {"mean": MeanPooling, "attentive_stats": AttentiveStatsPooling}


def weighted_layer_sum(states: List[Tensor], layer_weights: Tensor) -> Tensor:
    """softmax(layer_weights)-weighted sum of hidden states (HF ``use_weighted_layer_sum``).

    Args:
        states (list of Tensor): L + 1 tensors (B, T, D).
        layer_weights (Tensor): (L + 1,) unnormalised weights.

    Returns:
        Tensor: (B, T, D).
    """
    if len(states) != layer_weights.numel():
        raise ValueError(f"{len(states)} hidden states for {layer_weights.numel()} layer weights")
    weights = torch.softmax(layer_weights.float(), dim=0).to(states[0].dtype)
    return (torch.stack(states) * weights[:, None, None, None]).sum(dim=0)


def cosine_scores(vectors: Tensor, weight: Tensor) -> Tensor:
    """Cosines between the pooled vectors (B, E) and the class rows of ``weight`` (C, E):
    (B, C) in [-1, 1], in float32."""
    cos = F.linear(F.normalize(vectors.float(), dim=-1), F.normalize(weight.float(), dim=-1))
    return cos.clamp(-1.0, 1.0)


def add_angular_margin(cos: Tensor, targets: Tensor, margin: float) -> Tensor:
    """ArcFace's target-class margin: cos(theta + m) at each utterance's target, cos(theta)
    elsewhere.

    Past theta = pi - m, cos(theta + m) would rise again as theta grows (a worse match would
    be penalised less); there the target entry is cos(theta) - m sin(m) instead (ArcFace's
    fallback, the tangent of cos at pi - m), which keeps it decreasing in theta.

    Args:
        cos (Tensor): (B, C) cosines.
        targets (Tensor): (B,) class ids.
        margin (float): m in radians.

    Returns:
        Tensor: (B, C).
    """
    sin = (1.0 - cos * cos).clamp(min=1e-12).sqrt()  # the floor keeps the gradient finite
    shifted = cos * math.cos(margin) - sin * math.sin(margin)
    fallback = cos - margin * math.sin(margin)
    target_cos = torch.where(cos > math.cos(math.pi - margin), shifted, fallback)
    is_target = F.one_hot(targets.long(), cos.shape[1]).bool()
    return torch.where(is_target, target_cos, cos)


def check_targets(targets: Tensor, logits: Tensor) -> Tensor:
    """``targets`` if they are (B,) for (B, classes) logits; a ValueError otherwise."""
    if targets.shape != logits.shape[:1]:
        raise ValueError(f"{tuple(targets.shape)} targets for {logits.shape[0]} utterances")
    return targets


class ClassifierModel(TaskModel):
    """XLS-R encoder + pooling classifier (see the module docstring for the options).

    Args:
        encoder: the shared encoder.
        cfg: head config.
    """

    task_name = "classification"
    log_terms = (("correct", "utterances", "acc", ".1f%"),)
    #: labels by class id where the model brings them (an external model: fairseq's
    #: task_state, HF's id2label; set by the loader); None: the lang dir's labels.txt
    labels: Optional[List[str]] = None

    def __init__(self, encoder: XLSREncoder, cfg: ClassifierConfig) -> None:
        super().__init__(encoder)
        self.cfg = cfg
        self.pooling_layer = POOLINGS[cfg.pooling](encoder.output_dim, cfg)
        if cfg.weighted_layer_sum:  # HF's name and initial value (uniform after the softmax)
            count = encoder.cfg.num_layers + 1
            self.layer_weights = nn.Parameter(torch.full((count,), 1.0 / count))
        if cfg.freeze_encoder:
            self.encoder.eval()

    @property
    def embedding_dim(self) -> int:
        """E of :meth:`embed` (latent, or 2 * latent for attentive statistics pooling)."""
        return self.pooling_layer.embed_dim

    def train(self, mode: bool = True) -> ClassifierModel:
        """As ``nn.Module.train``; with ``cfg.freeze_encoder`` the encoder stays in eval mode
        (no dropout, masking or LayerDrop)."""
        super().train(mode)
        if self.cfg.freeze_encoder:
            self.encoder.eval()
        return self

    def _encoder_context(self):
        """no_grad while the encoder is frozen: always with ``cfg.freeze_encoder``, while
        training with the trainer's ``freeze_encoder`` (fairseq freeze_finetune_updates)."""
        frozen = self.cfg.freeze_encoder or (self.freeze_encoder and self.training)
        return torch.no_grad() if frozen else contextlib.nullcontext()

    def encode(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """The encoder's (hidden (B, T, D), frames (B,)), without gradients while frozen."""
        with self._encoder_context():
            return self.encoder(waveforms, lengths)

    def features(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """What the pooling reads: (hidden (B, T, D), frames (B,)); the final layer, or with
        ``weighted_layer_sum`` the weighted sum of the encoder's num_layers + 1 hidden states
        (:meth:`XLSREncoder.hidden_states`: in training a layer LayerDrop skipped repeats the
        state before it)."""
        if not self.cfg.weighted_layer_sum:
            return self.encode(waveforms, lengths)
        with self._encoder_context():
            states, frames = self.encoder.hidden_states(
                waveforms, lengths, final_norm=self.cfg.layer_sum_final_norm
            )
        return weighted_layer_sum(states, self.layer_weights), frames

    def embed(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """Utterance embeddings for speaker verification: the pooled vector before the
        activation and the projection (for mean pooling ``pooling_layer.embed``: the mean of
        ``linear`` over the real frames; for attentive statistics pooling [mean, std]).
        Padding does not change an utterance's embedding.

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.

        Returns:
            (embeddings (B, E), frames (B,)); E is :attr:`embedding_dim`.
        """
        hidden, frames = self.features(waveforms, lengths)
        return self.pooling_layer.embed(hidden, frames), frames

    def forward(self, waveforms: Tensor, lengths: Tensor, targets=None):
        """Logits, or with ``targets`` the loss.

        With ``loss="aam"`` the logits are ``aam_scale`` times the cosines between the
        activated pooled vector and the rows of ``projection.weight`` (its bias is unused);
        the loss adds the angular margin to the target class (:func:`add_angular_margin`).

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.
            targets (Tensor): (B,) class ids, for training.

        Returns:
            (logits (B, classes), frames (B,)) without targets; (summed cross-entropy,
            info with ``utterances``, ``frames``, ``correct``) with them.
        """
        embeddings, frames = self.embed(waveforms, lengths)
        logits, cos = self._head(embeddings)
        if targets is None:
            return logits, frames
        targets = check_targets(torch.as_tensor(targets, device=logits.device), logits)
        margin_logits = None
        if self.cfg.loss == "aam":
            margin = add_angular_margin(cos, targets, self.cfg.aam_margin)
            margin_logits = self.cfg.aam_scale * margin
        return self.loss(logits, frames, targets, margin_logits)

    def logits_and_embeddings(
        self, waveforms: Tensor, lengths: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """:meth:`forward`'s logits and :meth:`embed`'s embeddings from one encoder pass
        (decoding views that need both: ``--npz``, argmax beside verify).

        Args:
            waveforms (Tensor): (B, S) 16 kHz audio.
            lengths (Tensor): (B,) samples per utterance.

        Returns:
            (logits (B, classes), embeddings (B, E), frames (B,)).
        """
        embeddings, frames = self.embed(waveforms, lengths)
        return self._head(embeddings)[0], embeddings, frames

    def _head(self, embeddings: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """(logits (B, classes), the cosines (B, classes) with ``loss="aam"``, else None) of
        pooled vectors (B, E) before the activation."""
        head = self.pooling_layer
        vectors = head.activation(embeddings)
        if self.cfg.loss == "ce":
            return head.projection(vectors), None
        cos = cosine_scores(vectors, head.projection.weight)
        return self.cfg.aam_scale * cos, cos

    def loss(
        self,
        logits: Tensor,
        frames: Tensor,
        targets: Tensor,
        margin_logits: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Dict[str, float]]:
        """Summed cross-entropy (with ``label_smoothing``) and counts.

        Args:
            logits (Tensor): (B, classes), what decoding reads (``correct`` counts their argmax).
            frames (Tensor): (B,) frames.
            targets (Tensor): (B,) class ids.
            margin_logits (Tensor or None): (B, classes) the logits the loss reads instead
                (AAM's, with the target margin).
        """
        check_targets(targets, logits)
        loss = F.cross_entropy(
            (logits if margin_logits is None else margin_logits).float(),
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
