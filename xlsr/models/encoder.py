"""The XLS-R encoder: wav2vec 2.0 as XLS-R uses it, in plain PyTorch."""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from xlsr.models.components import (
    EncoderLayer,
    FeatureExtractor,
    FeatureProjection,
    GradMultiply,
    PositionalConv,
    compute_span_mask,
    padding_mask,
)
from xlsr.models.config import EncoderConfig


def normalize_waveforms(waveforms: Tensor, lengths: Optional[Tensor], eps: float) -> Tensor:
    """Zero mean, unit variance per utterance over its real samples; padding becomes 0.

    Args:
        waveforms (Tensor): (batch, samples).
        lengths (Tensor or None): (batch,) real samples per utterance; None: no padding.
    """
    x = waveforms.float()
    if lengths is None:
        var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        return ((x - mean) * torch.rsqrt(var + eps)).to(waveforms.dtype)
    valid = (~padding_mask(lengths, x.shape[1])).to(x.dtype)
    count = lengths.to(x.dtype)[:, None]
    mean = (x * valid).sum(1, keepdim=True) / count
    var = (((x - mean) * valid) ** 2).sum(1, keepdim=True) / count
    return ((x - mean) * torch.rsqrt(var + eps) * valid).to(waveforms.dtype)


class TransformerEncoder(nn.Module):
    """Positional conv, LayerNorm and the stack of Transformer layers (fairseq
    ``TransformerEncoder``). With ``layer_norm_first`` the LayerNorm comes after the stack
    (pre-LN Transformer), otherwise right after the positional embedding."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pos_conv = PositionalConv(cfg.embed_dim, cfg.conv_pos, cfg.conv_pos_groups)
        self.layer_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(
                cfg.embed_dim,
                cfg.ffn_dim,
                cfg.num_heads,
                cfg.dropout,
                cfg.attention_dropout,
                cfg.activation_dropout,
                cfg.activation,
                cfg.layer_norm_first,
                cfg.layer_norm_eps,
            )
            for _ in range(cfg.num_layers)
        )
        #: Number of training forwards so far; with ``layerdrop_seed`` it fixes which layers
        #: LayerDrop skips, identically on every rank. The trainer saves and restores it.
        self.layerdrop_step = 0

    def layers_to_drop(self) -> Tensor:
        """Boolean (num_layers,): the layers LayerDrop skips in this training forward."""
        seed = self.cfg.layerdrop_seed * 1_000_003 + self.layerdrop_step
        gen = torch.Generator().manual_seed(seed)
        self.layerdrop_step += 1
        return torch.rand(len(self.layers), generator=gen) < self.cfg.layerdrop

    def forward(
        self, x: Tensor, pad_mask: Optional[Tensor], states: Optional[List[Tensor]] = None
    ) -> Tensor:
        """Runs the stack.

        Args:
            x (Tensor): (B, T, D) projected features.
            pad_mask (Tensor or None): (B, T), True on padding.
            states (list or None): when given, receives num_layers + 1 (B, T, D) tensors: the
                first layer's input (after the positional conv, and its LayerNorm in the
                post-norm variant), then each layer's output; a layer LayerDrop skipped
                repeats the state before it. None of them has the final LayerNorm of the
                ``layer_norm_first`` variant (see :meth:`XLSREncoder.hidden_states`).

        Returns:
            Tensor: (B, T, D) the final output.
        """
        if pad_mask is not None:
            x = x.masked_fill(pad_mask[..., None], 0.0)
        x = x + self.pos_conv(x)
        if not self.cfg.layer_norm_first:
            x = self.layer_norm(x)
        x = self.dropout(x)
        if states is not None:
            states.append(x)
        drop = None
        if self.training and self.cfg.layerdrop > 0:
            drop = self.layers_to_drop()
        recompute = self.cfg.checkpoint_activations and self.training and torch.is_grad_enabled()
        for i, layer in enumerate(self.layers):
            if drop is None or not drop[i]:
                if recompute:
                    x = checkpoint(layer, x, pad_mask, use_reentrant=False)
                else:
                    x = layer(x, pad_mask)
            if states is not None:
                states.append(x)
        if self.cfg.layer_norm_first:
            x = self.layer_norm(x)
        return x


class XLSREncoder(nn.Module):
    """The wav2vec 2.0 / XLS-R encoder from raw 16 kHz audio to contextual frames (20 ms).

    Build one from a preset (``XLSREncoder(xlsr_300m())``) or load a checkpoint with
    :func:`xlsr.load_encoder`. Input normalisation (fairseq ``task.normalize``, HF
    ``do_normalize``) happens inside when ``cfg.normalize_waveform`` is set, so feed raw
    waveforms.

    Fine-tuning behaviour follows fairseq: time masking with the learned ``mask_emb``
    (``mask_prob``/``mask_length``) and channel masking (``mask_channel_prob``/
    ``mask_channel_length``) in training mode, LayerDrop (``layerdrop``), ``feature_grad_mult``
    (0 freezes the conv feature encoder) and per-layer activation checkpointing.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.feature_extractor = FeatureExtractor(
            cfg.conv_layers, cfg.extractor_mode, cfg.conv_bias, cfg.layer_norm_eps
        )
        self.feature_projection = FeatureProjection(
            cfg.feature_dim, cfg.embed_dim, cfg.dropout_input, cfg.layer_norm_eps
        )
        self.mask_emb = nn.Parameter(torch.empty(cfg.embed_dim).uniform_())
        self.encoder = TransformerEncoder(cfg)

    @property
    def output_dim(self) -> int:
        return self.cfg.embed_dim

    def _check_inputs(self, waveforms: Tensor, lengths: Optional[Tensor]) -> Tensor:
        if not isinstance(waveforms, Tensor):
            raise TypeError(f"waveforms must be a Tensor, got {type(waveforms).__name__}")
        if waveforms.dim() != 2:
            raise ValueError(
                f"waveforms must be (batch, samples), got shape {tuple(waveforms.shape)}"
            )
        if not waveforms.is_floating_point():
            raise ValueError(f"waveforms must be floating point, got dtype {waveforms.dtype}")
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
        if not isinstance(lengths, Tensor) or lengths.shape != (batch,):
            found = tuple(lengths.shape) if isinstance(lengths, Tensor) else type(lengths).__name__
            raise ValueError(
                f"lengths must be a ({batch},) tensor for {batch} waveforms, got {found}"
            )
        if lengths.is_floating_point() or lengths.dtype == torch.bool:
            raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
        lengths = lengths.to(device=waveforms.device, dtype=torch.long)
        if int(lengths.max()) > samples:
            raise ValueError(f"lengths max {int(lengths.max())} exceeds samples {samples}")
        short = (lengths < self.cfg.receptive_field).nonzero().flatten().tolist()
        if short:
            raise ValueError(
                f"utterances {short} have fewer than {self.cfg.receptive_field} samples "
                f"(lengths {lengths[short].tolist()}): too short for one frame"
            )
        return lengths

    def extract_conv_features(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """Conv feature encoder with ``feature_grad_mult``. Returns (B, T, C) and (B,)."""
        mult = self.cfg.feature_grad_mult
        if mult > 0 or not torch.is_grad_enabled():
            feats, frames = self.feature_extractor(waveforms, lengths)
            if mult != 1.0 and feats.requires_grad:
                feats = GradMultiply.apply(feats, mult)
        else:
            with torch.no_grad():
                feats, frames = self.feature_extractor(waveforms, lengths)
        return feats, frames

    def apply_mask(self, x: Tensor, frames: Tensor) -> Tensor:
        """Time masking (replace with ``mask_emb``) and channel masking (zero), fairseq-style.

        x (Tensor): (B, T, D); frames (Tensor): (B,) valid frames.
        """
        b, t, d = x.shape
        cfg = self.cfg

        def channel_mask(x: Tensor) -> Tensor:
            if cfg.mask_channel_prob <= 0:
                return x
            full = torch.full((b,), d, dtype=torch.long)
            cm = compute_span_mask((b, d), full, cfg.mask_channel_prob, cfg.mask_channel_length)
            return x.masked_fill(cm.to(x.device)[:, None, :], 0.0)

        if cfg.mask_channel_before:
            x = channel_mask(x)
        if cfg.mask_prob > 0:
            tm = compute_span_mask((b, t), frames.cpu(), cfg.mask_prob, cfg.mask_length)
            x = torch.where(tm.to(x.device)[..., None], self.mask_emb.to(x.dtype), x)
        if not cfg.mask_channel_before:
            x = channel_mask(x)
        return x

    def forward(
        self, waveforms: Tensor, lengths: Optional[Tensor] = None, mask: Optional[bool] = None
    ) -> Tuple[Tensor, Tensor]:
        """Encodes a padded batch of raw audio.

        Args:
            waveforms (Tensor): (batch, samples) float, 16 kHz; padding anywhere past ``lengths``.
            lengths (Tensor or None): (batch,) real samples per utterance; None means all.
            mask (bool or None): apply time/channel masking; defaults to ``self.training``.

        Returns:
            (Tensor, Tensor): hidden states (batch, frames, embed_dim) of the final layer, and
            (batch,) valid frames. Frames past the valid count are padding.
        """
        x, pad, frames = self._transformer_input(waveforms, lengths, mask)
        return self.encoder(x, pad), frames

    def traced_forward(
        self, waveforms: Tensor, lengths: Optional[Tensor] = None
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """The eval forward as one traceable graph, for ONNX export (:mod:`xlsr.models.onnx`):
        no input checks, no masking and no Python branch on the data (the padding mask is
        always applied where ``lengths`` is given). Same outputs as :meth:`forward` in eval
        mode.

        Args:
            waveforms (Tensor): (batch, samples) float, 16 kHz.
            lengths (Tensor or None): (batch,) real samples; None: every sample is real.

        Returns:
            (hidden (batch, frames, embed_dim), frames (batch,) or None for None).
        """
        if self.cfg.normalize_waveform:
            waveforms = normalize_waveforms(waveforms, lengths, self.cfg.normalize_eps)
        feats, frames = self.feature_extractor(waveforms, lengths)
        x = self.feature_projection(feats)
        pad = None if frames is None else padding_mask(frames, x.shape[1])
        return self.encoder(x, pad), frames

    def hidden_states(
        self,
        waveforms: Tensor,
        lengths: Optional[Tensor] = None,
        mask: Optional[bool] = None,
        final_norm: bool = True,
    ) -> Tuple[List[Tensor], Tensor]:
        """All num_layers + 1 hidden states, as Hugging Face ``output_hidden_states`` gives them.

        Entry 0 is the first layer's input (after the positional conv; in the post-norm
        variant also its LayerNorm), entry i the output of layer i. The last entry equals
        :meth:`forward`'s output: in the ``layer_norm_first`` (XLS-R, HF
        ``do_stable_layer_norm``) variant it has the final LayerNorm, as in transformers 4.x.
        transformers 5.x (checked: 5.24) returns the last layer's output before that
        LayerNorm instead: ``final_norm=False`` gives that. In training, a layer LayerDrop
        skipped repeats the state before it (transformers 4.x did the same; 5.x leaves the
        entry out, so the list gets shorter). Padded frames hold no meaningful values.

        Args:
            waveforms (Tensor): (batch, samples) float, 16 kHz.
            lengths (Tensor or None): (batch,) real samples per utterance; None means all.
            mask (bool or None): apply time/channel masking; defaults to ``self.training``.
            final_norm (bool): the last entry after the final LayerNorm (``layer_norm_first``
                only; the post-norm variant has none there).

        Returns:
            (list of num_layers + 1 Tensors (batch, frames, embed_dim), frames (batch,)).
        """
        x, pad, frames = self._transformer_input(waveforms, lengths, mask)
        states: List[Tensor] = []
        out = self.encoder(x, pad, states)
        if final_norm:
            states[-1] = out
        return states, frames

    def _transformer_input(
        self, waveforms: Tensor, lengths: Optional[Tensor], mask: Optional[bool]
    ) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """Checks, normalisation, conv features, projection and masking: the Transformer's
        input (B, T, D), its padding mask (B, T) (None without padding) and frames (B,)."""
        lengths = self._check_inputs(waveforms, lengths)
        if self.cfg.normalize_waveform:
            waveforms = normalize_waveforms(waveforms, lengths, self.cfg.normalize_eps)
        feats, frames = self.extract_conv_features(waveforms, lengths)
        x = self.feature_projection(feats)
        pad = padding_mask(frames, x.shape[1])
        if self.training if mask is None else mask:
            x = self.apply_mask(x, frames)
        return x, pad if bool(pad.any()) else None, frames

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
