"""xlsr-k2: a Kaldi/k2-style speech toolkit around the XLS-R wav2vec 2.0 encoders.

``xlsr.load_model`` (any model the toolkit decodes, :mod:`xlsr.tasks.load`) is imported on
first use, so ``import xlsr`` does not import the tasks, lhotse or sentencepiece.
"""

from xlsr.models import (
    CheckpointError,
    EncoderConfig,
    XLSREncoder,
    load_encoder,
    save_encoder,
    xlsr_1b,
    xlsr_2b,
    xlsr_300m,
    xlsr_tiny,
)
from xlsr.version import __version__

__all__ = [
    "CheckpointError",
    "EncoderConfig",
    "XLSREncoder",
    "__version__",
    "load_encoder",
    "load_model",
    "save_encoder",
    "xlsr_1b",
    "xlsr_2b",
    "xlsr_300m",
    "xlsr_tiny",
]


def __getattr__(name: str):
    if name == "load_model":
        from xlsr.tasks.load import load_model

        return load_model
    raise AttributeError(f"module 'xlsr' has no attribute {name!r}")
