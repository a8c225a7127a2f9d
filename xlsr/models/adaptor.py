"""The length adaptor between the XLS-R encoder and a text decoder (fairseq ``Conv1dAdaptor``).

Each layer is ``Conv1d(C_in -> 2 D, kernel, stride, padding=kernel // 2)`` followed by a GLU
over channels, so it halves the frame rate (stride 2) and keeps width ``D``. Lengths follow
``floor((L - 1) / stride) + 1`` per layer, as fairseq computes them.

fairseq zeroes padded frames once, before the first layer; we zero them before every layer
and at the output, so an utterance gives the same output alone or in a padded batch (a
real frame's window may reach one frame past its end). Without padding the two agree.
Keys: ``layers.N.weight`` (2 D, C_in, kernel), ``layers.N.bias`` (2 D,), as fairseq's
``encoder.adaptor.layers.N``.
"""

from __future__ import annotations

from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from xlsr.models.components import padding_mask


def adaptor_output_lengths(lengths: Tensor, num_layers: int, stride: int) -> Tensor:
    """Frames after ``num_layers`` strided layers: ``floor((L - 1) / stride) + 1`` each."""
    for _ in range(num_layers):
        lengths = (lengths - 1).div(stride, rounding_mode="floor") + 1
    return lengths


class Conv1dAdaptor(nn.Module):
    """Strided Conv1d + GLU layers that shorten the encoder output.

    Args:
        in_dim: input width (the first layer's input channels).
        out_dim: output width ``D``.
        num_layers: fairseq ``adaptor_n_layers``.
        kernel: fairseq ``adaptor_kernel_size``.
        stride: fairseq ``adaptor_stride``.
    """

    def __init__(self, in_dim: int, out_dim: int, num_layers: int, kernel: int, stride: int):
        super().__init__()
        self.stride = stride
        self.layers = nn.ModuleList(
            nn.Conv1d(
                in_dim if i == 0 else out_dim,
                2 * out_dim,
                kernel,
                stride=stride,
                padding=kernel // 2,
            )
            for i in range(num_layers)
        )

    def forward(self, x: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """x (Tensor): (B, T, C_in); lengths: (B,). Returns (B, T', D) and lengths (B,)."""
        x = x.transpose(1, 2)  # (B, C, T)
        for layer in self.layers:
            x = x.masked_fill(padding_mask(lengths, x.shape[2])[:, None, :], 0.0)
            x = F.glu(layer(x), dim=1)
            lengths = adaptor_output_lengths(lengths, 1, self.stride)
        x = x.masked_fill(padding_mask(lengths, x.shape[2])[:, None, :], 0.0)
        return x.transpose(1, 2), lengths
