"""Tiny models and audio for the ONNX export and client tests (``xlsr.models.onnx_export``,
``xlsr.decode.onnx_clients``).

A random tiny model's outputs are nearly flat: its greedy output is almost all blank and its
graph-search result hangs on ties, so two correct decoders may disagree. The models here are
sharpened so that decoders have clear winners and emit varied tokens.

Example:
    >>> model = peaky_ctc_model(17)
    >>> waveforms, lengths = make_waveforms([0.5, 1.0, 3.0])
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import Tensor

from xlsr.testing.decode import tiny_head_model

SAMPLE_RATE = 16000


def peaky_ctc_model(vocab_size: int, seed: int = 0, scale: float = 4.0, blank_shift: float = 2.0):
    """A random tiny CTC model (:func:`xlsr.testing.decode.tiny_head_model`) whose output
    layer is scaled by ``scale`` and whose blank bias is lowered by ``blank_shift``, eval mode.

    Why: the random model's log-probs are close to uniform, so greedy search gives mostly
    blanks and HLG search gives arbitrary ties; decoders that are each correct then differ.
    Scaled ("peaky") outputs give distinct best paths with varied words through the tiny lang
    dir's HLG, on which k2 1best, kaldi-decoder and sherpa-onnx must agree exactly.
    """
    model = tiny_head_model("ctc", vocab_size, seed=seed)
    with torch.no_grad():
        model.output.weight.mul_(scale)
        model.output.bias[0] -= blank_shift
    return model.eval()


def emitting_transducer_model(vocab_size: int, seed: int = 0, scale: float = 8.0):
    """A random tiny transducer whose joiner output is scaled by ``scale`` and whose blank
    logit is lowered, eval mode: greedy and beam search emit tokens (the random model's
    nearly flat joiner output emits mostly blanks, which compares nothing)."""
    model = tiny_head_model("transducer", vocab_size, seed=seed)
    with torch.no_grad():
        model.joiner.output_linear.weight.mul_(scale)
        model.joiner.output_linear.bias[0] -= 1.0
    return model.eval()


def make_waveform(seconds: float, seed: int = 0) -> Tensor:
    """A (samples,) 16 kHz test signal of ``seconds``: noise of amplitude about 0.1 with a
    slow envelope (so that frames differ), not normalised."""
    n = int(round(seconds * SAMPLE_RATE))
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float32)
    envelope = 1 + torch.sin(t / (100.0 + 150.0 * (seed % 7)))
    return torch.randn(n, generator=g) * 0.1 * envelope


def make_waveforms(seconds: Sequence[float], seed: int = 0) -> Tuple[Tensor, Tensor]:
    """:func:`make_waveform` of each of ``seconds`` (seeds ``seed``, ``seed + 1`` ...),
    zero-padded: (waveforms (batch, samples), lengths (batch,))."""
    waves = [make_waveform(s, seed + i) for i, s in enumerate(seconds)]
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    batch = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        batch[i, : len(w)] = w
    return batch, lengths


def sherpa_normalize(samples: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-utterance normalisation as sherpa-onnx applies it before an "omnilingual" CTC
    model: (samples - mean) / sqrt(variance + eps), over the last dimension."""
    mean = samples.mean(dim=-1, keepdim=True)
    var = samples.var(dim=-1, unbiased=False, keepdim=True)
    return (samples - mean) / torch.sqrt(var + eps)
