"""Speech synthesis with espeak-ng through the ``espeakng-loader`` wheel (no system package).

The wheel ships ``libespeak-ng.so`` and its voice data; we call the C API with ctypes in
synchronous mode and collect the 16-bit samples the library hands to our callback.
"""

from __future__ import annotations

import ctypes
import threading
from typing import List, Optional

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_RATE, ESPEAK_PITCH = 1, 3
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1

_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    """espeak-ng could not be loaded or could not speak."""


class Espeak:
    """One process-wide espeak-ng engine (the C library has global state).

    Example:
        >>> tts = Espeak.get()
        >>> audio = tts.synthesize("vingt et un", voice="fr+m3", rate=170, pitch=50)
        >>> tts.sample_rate
        22050
    """

    _instance: Optional[Espeak] = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:
            raise EspeakError(
                "espeakng-loader is not installed (pip install espeakng-loader)"
            ) from e
        try:
            self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as e:
            raise EspeakError(f"cannot load libespeak-ng: {e}") from e
        data = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed ({rate}) with data at {data!r}")
        self.sample_rate = int(rate)
        # espeak-ng draws noise (unvoiced sounds) from libc rand(), seeded from the clock at
        # start-up; we reseed before every utterance.
        self._libc = ctypes.CDLL(None)
        self._lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        self._chunks: List[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: ctypes does not
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> Espeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav, num_samples: int, events) -> int:
        if num_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
        return 0

    def synthesize(
        self, text: str, voice: str, rate: int = 175, pitch: int = 50, seed: int = 0
    ) -> np.ndarray:
        """Speaks ``text``; returns int16 samples at ``self.sample_rate``.

        Args:
            voice: espeak-ng voice name with an optional variant, e.g. "de", "de+m3".
            rate: words per minute (80-450). pitch: 0-99.
            seed: seed of the noise generator for this utterance.
        """
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(ESPEAK_RATE, int(rate), 0)
            self._lib.espeak_SetParameter(ESPEAK_PITCH, int(pitch), 0)
            self._chunks = []
            self._libc.srand(seed & 0x7FFFFFFF)
            self._lib.espeak_ng_SetRandSeed(seed)
            data = text.encode("utf-8")
            err = self._lib.espeak_Synth(
                data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            if err != 0:
                raise EspeakError(f"espeak_Synth failed ({err}) for {text!r} with voice {voice}")
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
