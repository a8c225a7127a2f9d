"""Frame arithmetic of the wav2vec 2.0 conv feature encoder: samples in, frames out.

The data layer needs it (CTC feasibility of a cut, frame counts in ``validate_data``) and
so does the encoder (its output lengths); it lives here, below both, and
``xlsr.models`` imports it from here.
"""

from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import torch
from torch import Tensor

ConvLayer = Tuple[int, int, int]  # (channels, kernel, stride)

#: fairseq ``conv_feature_layers`` default: "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2".
DEFAULT_CONV_LAYERS: List[ConvLayer] = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2


def conv_output_lengths(lengths: Tensor, conv_layers: Sequence[ConvLayer]) -> Tensor:
    """Frames the conv stack makes of ``lengths`` samples: ``floor((L - k) / s) + 1`` per layer.

    Args:
        lengths (Tensor): (batch,) integer sample counts.
        conv_layers: (channels, kernel, stride) per layer.

    Returns:
        Tensor: (batch,) frame counts, 0 where an input is shorter than the receptive field.
    """
    out = lengths
    for _, kernel, stride in conv_layers:
        out = torch.div(out - kernel, stride, rounding_mode="floor") + 1
    return out.clamp(min=0)


def conv_frames_fn(
    conv_layers: Sequence[ConvLayer] = DEFAULT_CONV_LAYERS,
) -> Callable[[Tensor], Tensor]:
    """``samples (N,) -> frames (N,)`` of a conv feature extractor (int64 tensors).

    For the standard wav2vec 2.0 stack, ``frames = floor((samples - 400) / 320) + 1``.
    """
    layers = [tuple(layer) for layer in conv_layers]
    return lambda samples: conv_output_lengths(samples, layers)
