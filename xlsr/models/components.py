"""Building blocks of the wav2vec 2.0 / XLS-R encoder.

Shapes use ``B`` (batch), ``S`` (samples), ``C`` (conv channels), ``T`` (frames) and
``D`` (model dimension). Padding masks are ``True`` on padded frames.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.data.frames import ConvLayer, conv_output_lengths

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def padding_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(batch, max_len) boolean mask, ``True`` at positions ``>= lengths``."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


class MaskedGroupNorm(nn.Module):
    """GroupNorm with one group per channel whose statistics skip padded frames.

    This is fairseq's ``Fp32GroupNorm(dim, dim)`` after the first conv of the "default"
    (wav2vec 2.0 base) extractor. fairseq and Hugging Face normalise over the padded length,
    so padding changes the real frames; here the statistics use the real frames only, so an
    utterance gives the same output alone or in a padded batch. Without padding it is exactly
    GroupNorm. Keys: ``weight``, ``bias`` (channels,).
    """

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, lengths: Optional[Tensor]) -> Tensor:
        """x (Tensor): (B, T, C); lengths (Tensor or None): (B,) valid frames (None: no
        padding). While tracing (ONNX export) the masked form always runs: no branch on
        the data."""
        dtype = x.dtype
        x = x.float()
        unpadded = lengths is None or (
            not torch.jit.is_tracing() and bool((lengths == x.shape[1]).all())
        )
        if unpadded:
            var, mean = torch.var_mean(x, dim=1, unbiased=False, keepdim=True)
        else:
            valid = (~padding_mask(lengths, x.shape[1]))[:, :, None].to(x.dtype)  # (B, T, 1)
            count = lengths.clamp(min=1).to(x.dtype)[:, None, None]
            mean = (x * valid).sum(1, keepdim=True) / count
            var = (((x - mean) * valid) ** 2).sum(1, keepdim=True) / count
        y = (x - mean) * torch.rsqrt(var + self.eps) * self.weight.float() + self.bias.float()
        return y.to(dtype)


class ConvBlock(nn.Module):
    """Conv1d -> norm -> GELU, one layer of the feature encoder, in (batch, time, channels).

    ``norm`` is "layer" (LayerNorm over channels, XLS-R), "group" (masked GroupNorm, first
    layer of wav2vec 2.0 base) or "none". The parameters are those of ``nn.Conv1d``
    (``conv.weight`` (C_out, C_in, k), ``conv.bias``). On the CPU the convolution runs as one
    matrix product over unfolded windows, which keeps the time-major layout (no transposes
    around the LayerNorm) and is faster than the CPU Conv1d kernels for these shapes
    (``tests/benchmarks``); elsewhere it calls ``conv1d``. Set ``ConvBlock.use_unfold`` to
    force either path.
    """

    use_unfold: Optional[bool] = None  # None: unfold on the CPU, conv1d on accelerators

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool, norm: str, eps: float
    ) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, bias=bias)
        nn.init.kaiming_normal_(self.conv.weight)
        self.norm: Optional[nn.Module]
        if norm == "layer":
            self.norm = nn.LayerNorm(out_ch, eps=eps)
        elif norm == "group":
            self.norm = MaskedGroupNorm(out_ch, eps=eps)
        else:
            self.norm = None

    def _conv(self, x: Tensor) -> Tensor:
        unfold = self.use_unfold if self.use_unfold is not None else x.device.type == "cpu"
        w, b = self.conv.weight, self.conv.bias
        if not unfold:
            return F.conv1d(x.transpose(1, 2), w, b, stride=self.stride).transpose(1, 2)
        windows = x.unfold(1, self.kernel, self.stride)  # (B, T', C_in, k)
        batch, frames = windows.shape[:2]
        flat = windows.reshape(batch * frames, -1)
        w2 = w.reshape(w.shape[0], -1).t()  # (C_in * k, C_out), same (C_in, k) order
        y = flat @ w2 if b is None else torch.addmm(b, flat, w2)
        return y.view(batch, frames, -1)

    def forward(self, x: Tensor, lengths: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """x (Tensor): (B, S, C_in); lengths: (B,) or None (no padding). Returns (B, T, C_out)
        and (B,) (None for None)."""
        x = self._conv(x)
        if lengths is not None:
            lengths = conv_output_lengths(lengths, [(0, self.kernel, self.stride)])
        if isinstance(self.norm, MaskedGroupNorm):
            x = self.norm(x, lengths)
        elif self.norm is not None:
            x = self.norm(x)
        return F.gelu(x), lengths


class FeatureExtractor(nn.Module):
    """The 7-layer convolutional feature encoder over raw audio (fairseq ConvFeatureExtractionModel).

    Args:
        conv_layers: (channels, kernel, stride) per layer.
        mode: "layer_norm" or "default" (fairseq ``extractor_mode``).
        bias: conv bias (fairseq ``conv_bias``).
    """

    def __init__(self, conv_layers: Sequence[ConvLayer], mode: str, bias: bool, eps: float):
        super().__init__()
        blocks: List[ConvBlock] = []
        in_ch = 1
        for i, (ch, kernel, stride) in enumerate(conv_layers):
            norm = "layer" if mode == "layer_norm" else "group" if i == 0 else "none"
            blocks.append(ConvBlock(in_ch, ch, kernel, stride, bias, norm, eps))
            in_ch = ch
        self.conv_layers = nn.ModuleList(blocks)

    def forward(
        self, waveforms: Tensor, lengths: Optional[Tensor]
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """waveforms (Tensor): (B, S); lengths: (B,) or None (no padding). Returns features
        (B, T, C) and (B,) (None for None)."""
        x = waveforms.unsqueeze(-1)
        for block in self.conv_layers:
            x, lengths = block(x, lengths)
        return x, lengths


class GradMultiply(torch.autograd.Function):
    """Identity forward; scales the gradient by ``scale`` (fairseq ``feature_grad_mult``)."""

    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:  # noqa: D102
        ctx.scale = scale
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: D102
        return grad * ctx.scale, None


class FeatureProjection(nn.Module):
    """LayerNorm over conv channels, then Linear C -> D and dropout (fairseq ``layer_norm``,
    ``post_extract_proj``, ``dropout_input``)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_dim, eps=eps)
        self.projection = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (Tensor): (B, T, C) -> (B, T, D)."""
        return self.dropout(self.projection(self.layer_norm(x)))


class PositionalConv(nn.Module):
    """Convolutional relative positional embedding with weight normalisation (dim=2).

    The weight is ``weight_v * weight_g / ||weight_v||`` with the norm taken over the
    output and input channels for each kernel position, as ``torch.nn.utils.weight_norm(conv,
    dim=2)`` computes it. We hold ``weight_g`` (1, 1, K) and ``weight_v`` (D, D/groups, K)
    ourselves, so the state dict is the same on every torch version.
    """

    def __init__(self, dim: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.kernel, self.groups = kernel, groups
        std = math.sqrt(4.0 / (kernel * dim))
        v = torch.empty(dim, dim // groups, kernel).normal_(0.0, std)
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(self._norm(v).detach().clone())
        self.bias = nn.Parameter(torch.zeros(dim))

    @staticmethod
    def _norm(v: Tensor) -> Tensor:
        return torch.sqrt((v.float() ** 2).sum(dim=(0, 1), keepdim=True)).to(v.dtype)

    def weight(self) -> Tensor:
        return self.weight_v * (self.weight_g / self._norm(self.weight_v))

    def forward(self, x: Tensor) -> Tensor:
        """x (Tensor): (B, T, D) -> positional term (B, T, D)."""
        y = F.conv1d(
            x.transpose(1, 2),
            self.weight(),
            self.bias,
            padding=self.kernel // 2,
            groups=self.groups,
        )
        if self.kernel % 2 == 0:  # fairseq SamePad: drop the extra frame of an even kernel
            y = y[:, :, :-1]
        return F.gelu(y).transpose(1, 2)


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask.

    Uses ``F.scaled_dot_product_attention`` where torch has it (2.x) and an explicit
    softmax(QK^T / sqrt(d)) V otherwise (torch 1.13); both compute the same function.
    Set ``SelfAttention.use_sdpa = False`` to force the explicit path.
    """

    use_sdpa: bool = HAS_SDPA

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.dropout = num_heads, dim // num_heads, dropout
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, d)

    def forward(self, x: Tensor, pad_mask: Optional[Tensor]) -> Tensor:
        """x (Tensor): (B, T, D); pad_mask (Tensor or None): (B, T), True on padding."""
        b, t, d = x.shape
        q, k, v = (
            self._split(self.q_proj(x)),
            self._split(self.k_proj(x)),
            self._split(self.v_proj(x)),
        )
        p = self.dropout if self.training else 0.0
        if self.use_sdpa and HAS_SDPA:
            attn_mask = None if pad_mask is None else ~pad_mask[:, None, None, :]
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
        else:
            scores = torch.matmul(q * self.head_dim**-0.5, k.transpose(-1, -2))
            if pad_mask is not None:
                scores = scores.masked_fill(pad_mask[:, None, None, :], float("-inf"))
            probs = F.dropout(torch.softmax(scores, dim=-1), p=p, training=self.training)
            y = torch.matmul(probs, v)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    """One Transformer layer (fairseq TransformerSentenceEncoderLayer).

    ``layer_norm_first`` (XLS-R): x + Attn(LN(x)), then x + FFN(LN(x)).
    Otherwise (wav2vec 2.0 base): LN(x + Attn(x)), then LN(x + FFN(x)).
    """

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        dropout: float,
        attention_dropout: float,
        activation_dropout: float,
        activation: str,
        layer_norm_first: bool,
        eps: float,
    ) -> None:
        super().__init__()
        self.layer_norm_first = layer_norm_first
        self.attention = SelfAttention(dim, num_heads, attention_dropout)
        self.attn_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim, eps=eps)
        self.activation = F.gelu if activation == "gelu" else F.relu
        self.dropout = nn.Dropout(dropout)
        self.activation_dropout = nn.Dropout(activation_dropout)

    def _ffn(self, x: Tensor) -> Tensor:
        return self.dropout(self.fc2(self.activation_dropout(self.activation(self.fc1(x)))))

    def forward(self, x: Tensor, pad_mask: Optional[Tensor]) -> Tensor:
        """x (Tensor): (B, T, D) -> (B, T, D)."""
        if self.layer_norm_first:
            x = x + self.dropout(self.attention(self.attn_layer_norm(x), pad_mask))
            return x + self._ffn(self.final_layer_norm(x))
        x = self.attn_layer_norm(x + self.dropout(self.attention(x, pad_mask)))
        return self.final_layer_norm(x + self._ffn(x))


def compute_span_mask(
    shape: Tuple[int, int],
    lengths: Tensor,
    prob: float,
    span: int,
    generator: Optional[torch.Generator] = None,
) -> Tensor:
    """Random spans to mask, as fairseq's ``compute_mask_indices`` draws them.

    Each row gets ``int(prob * L / span + u)`` spans (``u`` uniform in [0, 1), ``L`` its valid
    length) of ``span`` steps, with distinct starts drawn uniformly from ``[0, L - span)``;
    spans may overlap, so about ``prob`` of the steps are masked. Padding is never masked.

    Returns:
        Tensor: (batch, steps) boolean, True where masked.
    """
    batch, steps = shape
    mask = torch.zeros(batch, steps, dtype=torch.bool)
    for b in range(batch):
        valid = int(lengths[b])
        if valid <= span:
            continue
        num = int(prob * valid / span + float(torch.rand(1, generator=generator)))
        num = min(num, valid - span)
        if num <= 0:
            continue
        starts = torch.randperm(valid - span, generator=generator)[:num]
        idx = (starts[:, None] + torch.arange(span)[None, :]).reshape(-1)
        mask[b, idx] = True
    return mask
