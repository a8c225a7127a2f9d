"""xlsr-k2: a Kaldi/k2-style speech toolkit around the XLS-R wav2vec 2.0 encoders."""

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
    "save_encoder",
    "xlsr_1b",
    "xlsr_2b",
    "xlsr_300m",
    "xlsr_tiny",
]
