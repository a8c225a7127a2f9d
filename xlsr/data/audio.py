"""Audio of a cut: the one resampler, mono, why a load failed, lhotse's duration tolerance.

    resample_waveform(wave, 8000, 16000)   # band-limited sinc, one kernel per rate pair
    mono(cut.load_audio())                 # (samples,) float32, channels averaged
    load_error_reason(err)                 # "duration_mismatch" or "unreadable_audio"
    with mismatch_tolerance(0.05): ...     # load_audio reports a truncated file

Every resampling in the toolkit goes through ``resample_waveform`` (the data loader, the
noise mixer, the synthesised corpus).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Dict, Iterator, Tuple

import numpy as np
import torch
from lhotse import get_audio_duration_mismatch_tolerance, set_audio_duration_mismatch_tolerance
from lhotse.audio import AudioLoadingError
from lhotse.augmentation.resample import Resample
from torch import Tensor

_RESAMPLERS: Dict[Tuple[int, int], Resample] = {}


def read_sphere_with_libsndfile() -> bool:
    """Lets libsndfile read NIST SPHERE (``.sph``: PCM, mu-law, a-law) where lhotse would
    hand it to the ``sph2pipe`` program and that is not installed (these lanes): lhotse's
    default backends without its sph2pipe one. Does nothing when ``sph2pipe`` is on PATH or
    ``LHOTSE_AUDIO_BACKEND`` chooses a backend. Shorten-compressed SPHERE still needs
    sph2pipe (libsndfile cannot read it). Called when this module is imported (the data
    loader, the stage-1 header scans); returns whether it changed the backend."""
    import os
    import shutil

    from lhotse.audio import backend as lb

    if shutil.which("sph2pipe") or os.environ.get("LHOTSE_AUDIO_BACKEND"):
        return False
    default = lb.get_default_audio_backend()
    if not isinstance(default, lb.CompositeAudioBackend):
        return False
    kept = [b for b in default.backends if not isinstance(b, lb.Sph2pipeSubprocessBackend)]
    lb.set_current_audio_backend(lb.CompositeAudioBackend(kept))
    return True


read_sphere_with_libsndfile()


def resample_waveform(waveform: Tensor, source_rate: int, target_rate: int) -> Tensor:
    """Band-limited sinc resampling (lhotse's torch port of torchaudio's ``Resample``).

    Used instead of ``cut.resample()`` because lhotse resamples lazily with torchaudio or,
    without it, scipy, and the modern lane has neither. The kernel of each rate pair is
    built once per process.

    Args:
        waveform (Tensor): (samples,) or (channels, samples) float.
        source_rate: Rate of ``waveform``.
        target_rate: Rate wanted.

    Returns:
        Tensor: same leading shape, ``ceil(samples * target_rate / source_rate)`` samples.
    """
    if source_rate == target_rate:
        return waveform
    key = (int(source_rate), int(target_rate))
    if key not in _RESAMPLERS:
        _RESAMPLERS[key] = Resample(orig_freq=key[0], new_freq=key[1])
    return _RESAMPLERS[key](waveform)


def mono(audio: np.ndarray) -> Tensor:
    """(channels, samples) or (samples,) float audio -> (samples,) float32, channels averaged."""
    wave = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    return wave.mean(dim=0) if wave.dim() == 2 else wave.reshape(-1)


def load_error_reason(err: BaseException) -> str:
    """``duration_mismatch`` when lhotse found fewer/more samples than the manifest declares
    (a truncated file), else ``unreadable_audio``."""
    mismatch = isinstance(err, AudioLoadingError) and "declared samples" in str(err)
    return "duration_mismatch" if mismatch else "unreadable_audio"


def describe_error(err: BaseException) -> str:
    """``Type: message`` on one line, at most 300 characters."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


def set_mismatch_tolerance(seconds: float) -> None:
    """Sets lhotse's (process-global) audio duration mismatch tolerance, quietly."""
    if get_audio_duration_mismatch_tolerance() == seconds:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lhotse warns when going below its default
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.WARNING)  # and logs the change at INFO on the root logger
        try:
            set_audio_duration_mismatch_tolerance(seconds)
        finally:
            root.setLevel(level)


@contextlib.contextmanager
def mismatch_tolerance(seconds: float) -> Iterator[None]:
    """Temporarily set lhotse's audio duration mismatch tolerance (default 0.5 s).

    Within the tolerance lhotse silently pads or trims decoded audio to the manifest's
    length, so a tighter one is what makes ``load_audio`` report a short file.
    """
    previous = get_audio_duration_mismatch_tolerance()
    set_mismatch_tolerance(seconds)
    try:
        yield
    finally:
        set_mismatch_tolerance(previous)
