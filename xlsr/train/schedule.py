"""fairseq's tri-stage learning-rate schedule (``lr_scheduler._name: tri_stage``)."""

from __future__ import annotations

import math
from typing import Sequence


class TriStageSchedule:
    """Linear warm-up, hold, exponential decay, then constant.

    With ``max_update`` updates and ``phase_ratio`` (warm-up, hold, decay) the LR goes from
    ``init_lr_scale * lr`` to ``lr`` linearly, holds, then decays exponentially to
    ``final_lr_scale * lr`` and stays there (fairseq defaults: init 0.01, final 0.05).
    """

    def __init__(
        self,
        lr: float,
        max_update: int,
        phase_ratio: Sequence[float] = (0.1, 0.4, 0.5),
        init_lr_scale: float = 0.01,
        final_lr_scale: float = 0.05,
    ) -> None:
        if len(phase_ratio) != 3 or abs(sum(phase_ratio) - 1.0) > 1e-6:
            raise ValueError(f"phase_ratio must be 3 numbers summing to 1, got {phase_ratio}")
        self.lr = lr
        self.warmup = int(max_update * phase_ratio[0])
        self.hold = int(max_update * phase_ratio[1])
        self.decay = int(max_update * phase_ratio[2])
        self.init_lr = init_lr_scale * lr
        self.final_lr = final_lr_scale * lr
        self.decay_factor = -math.log(final_lr_scale) / max(self.decay, 1)

    def __call__(self, step: int) -> float:
        """Learning rate at update ``step`` (0-based)."""
        if step < self.warmup:
            return self.init_lr + (self.lr - self.init_lr) * step / self.warmup
        step -= self.warmup
        if step < self.hold:
            return self.lr
        step -= self.hold
        if step <= self.decay:
            return self.lr * math.exp(-self.decay_factor * step)
        return self.final_lr
