"""Additive noise (e.g. MUSAN) at a random SNR, for training.

    mixer = NoiseMixer(noise_cuts, snr=(10, 20), prob=0.5)
    wave = mixer(wave, random.Random(...))   # every draw from the caller's rng

``add_noise`` is the arithmetic: speech plus noise scaled to a speech-to-noise ratio.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Tuple

import torch
from lhotse import CutSet
from lhotse.cut import Cut
from torch import Tensor

from xlsr.data.audio import describe_error, mono, resample_waveform

logger = logging.getLogger(__name__)


def add_noise(speech: Tensor, noise: Tensor, snr_db: float) -> Tensor:
    """``speech + g * noise`` with ``g`` set so that the speech-to-noise power ratio is ``snr_db``.

    Args:
        speech (Tensor): (samples,) float.
        noise (Tensor): (samples,) float, same length.
        snr_db: Signal-to-noise ratio in dB.

    Returns:
        Tensor: (samples,); ``speech`` unchanged when either signal is silent.
    """
    if speech.shape != noise.shape:
        raise ValueError(f"speech {tuple(speech.shape)} and noise {tuple(noise.shape)} differ")
    p_speech, p_noise = speech.pow(2).mean(), noise.pow(2).mean()
    if p_speech <= 0 or p_noise <= 0:
        return speech
    gain = torch.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return speech + gain * noise


class NoiseMixer:
    """Additive noise: a random excerpt of a random noise cut at a random SNR.

    Mixing happens on loaded waveforms (at the encoder's rate), so speech and noise need not
    share a sampling rate. A noise cut whose audio fails to load is reported and the speech
    is left clean.

    Args:
        noise_cuts: Noise recordings (e.g. MUSAN noise / music), any rate and length.
        snr: (low, high) SNR range in dB, drawn uniformly.
        prob: Probability that a waveform gets noise.
        sample_rate: Rate of the waveforms passed in.
    """

    def __init__(
        self,
        noise_cuts: CutSet,
        snr: Tuple[float, float] = (10.0, 20.0),
        prob: float = 0.5,
        sample_rate: int = 16000,
    ):
        self.noise = list(noise_cuts)
        if not self.noise:
            raise ValueError("the noise CutSet is empty")
        self.snr, self.prob, self.sample_rate = snr, prob, sample_rate

    def __call__(self, waveform: Tensor, rng: random.Random) -> Tensor:
        """Maybe mix noise into ``waveform`` (samples,), drawing every choice from ``rng``."""
        mix = rng.random() < self.prob
        noise_cut = self.noise[rng.randrange(len(self.noise))]
        snr, offset_frac = rng.uniform(*self.snr), rng.random()
        if not mix or waveform.numel() == 0:
            return waveform
        try:
            noise = self._excerpt(noise_cut, waveform.numel(), offset_frac)
        except Exception as err:  # a bad noise file must not cost the speech cut
            logger.warning("noise cut %s not mixed: %s", noise_cut.id, describe_error(err))
            return waveform
        return add_noise(waveform, noise, snr)

    def _excerpt(self, cut: Cut, num_samples: int, offset_frac: float) -> Tensor:
        """(num_samples,) of ``cut`` from a random offset, repeated when it is too short."""
        duration = num_samples / self.sample_rate
        if cut.duration > duration:
            cut = cut.truncate(offset=offset_frac * (cut.duration - duration), duration=duration)
        noise = resample_waveform(mono(cut.load_audio()), cut.sampling_rate, self.sample_rate)
        if noise.numel() == 0:
            raise ValueError("noise audio is empty")
        return noise.repeat(math.ceil(num_samples / noise.numel()))[:num_samples]
