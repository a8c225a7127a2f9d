"""XLS-R encoder, presets and checkpoint import."""

from xlsr.models.config import (
    PRESETS,
    EncoderConfig,
    preset,
    wav2vec2_base,
    xlsr_1b,
    xlsr_2b,
    xlsr_300m,
    xlsr_tiny,
)
from xlsr.models.encoder import XLSREncoder
from xlsr.models.fairseq_hf import CheckpointError, LoadReport, load_encoder, save_encoder

__all__ = [
    "PRESETS",
    "CheckpointError",
    "EncoderConfig",
    "LoadReport",
    "XLSREncoder",
    "load_encoder",
    "preset",
    "save_encoder",
    "wav2vec2_base",
    "xlsr_1b",
    "xlsr_2b",
    "xlsr_300m",
    "xlsr_tiny",
]
