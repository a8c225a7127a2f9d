"""The trainer's ``loss_fn`` for the ASR heads: one batch of the data module in, the head's
summed loss and counters out."""

from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import Tensor, nn

SAMPLE_RATE = 16000


def compute_asr_loss(model: nn.Module, batch: Dict) -> Tuple[Tensor, Dict[str, float]]:
    """Runs ``model(waveforms, lengths, targets) -> (loss, info)`` on a batch of
    :func:`xlsr.data.dataset.make_dataloader` (``supervisions["targets"]`` token ids).

    ``model`` may be wrapped in DDP or sharded by FSDP: the loss is computed inside its
    ``forward``. A batch whose cuts were all skipped (bad audio) still runs the model, on one
    second of silence with no tokens, and returns that loss times 0 with zero counters: every
    rank then takes part in the same gradient reductions.
    """
    core = model.module if hasattr(model, "module") else model
    device = next(core.parameters()).device
    wav, lengths = batch["waveforms"], batch["lengths"]
    targets = batch["supervisions"]["targets"]
    empty = wav.shape[0] == 0
    if empty:
        wav, lengths, targets = torch.zeros(1, SAMPLE_RATE), torch.tensor([SAMPLE_RATE]), [[]]
    loss, info = model(wav.to(device), lengths.to(device), targets)
    if empty:
        return loss * 0.0, {k: 0.0 for k in info}
    info["audio_seconds"] = float(lengths.sum()) / SAMPLE_RATE
    return loss, info
