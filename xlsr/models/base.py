"""The base class of every task model: the shared XLS-R encoder and a head.

The trainer relies on this protocol only (no attribute probing):

    model.encoder            the XLSREncoder (its layers are the FSDP units)
    model.freeze_encoder     set before each update: fairseq freeze_finetune_updates
    model.set_num_updates(n) set before each update: loss warm-ups (transducer)
    model.layerdrop_step     LayerDrop's step counter, saved and restored with checkpoints
    model(waveforms, lengths, targets) -> (summed loss, info)   with targets
    model(waveforms, lengths)          -> the head's outputs    without

A task (``xlsr/tasks/``) names its model class; ``task_name`` says which task it serves.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar, Tuple

import torch
from torch import Tensor, nn

from xlsr.models.encoder import XLSREncoder


class TaskModel(nn.Module):
    """An encoder plus a head; subclasses add the head and ``forward``.

    Args:
        encoder: the shared encoder.
    """

    task_name: ClassVar[str] = ""
    #: the parts of the loss info the trainer's log line shows: ``(info key, divided by
    #: this info key, label, format)``, e.g. the CE per token beside the CTC per utterance
    log_terms: ClassVar[Tuple[Tuple[str, str, str, str], ...]] = ()

    def __init__(self, encoder: XLSREncoder) -> None:
        super().__init__()
        self.encoder = encoder
        #: fairseq freeze_finetune_updates: while True (and training), the encoder runs
        #: without gradients and only the head learns.
        self.freeze_encoder = False
        self.num_updates = 0

    def set_num_updates(self, num_updates: int) -> None:
        """Called by the trainer before each update (heads with loss warm-ups read it)."""
        self.num_updates = num_updates

    @property
    def layerdrop_step(self) -> int:
        """LayerDrop's step counter (every rank draws the same layers at the same step)."""
        return self.encoder.encoder.layerdrop_step

    @layerdrop_step.setter
    def layerdrop_step(self, step: int) -> None:
        self.encoder.encoder.layerdrop_step = step

    def encode(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """The encoder's (hidden (B, T, D), frames (B,)), without gradients while frozen."""
        frozen = self.freeze_encoder and self.training
        with torch.no_grad() if frozen else contextlib.nullcontext():
            return self.encoder(waveforms, lengths)
