"""Training never reports success on data it could not read.

The data module skips a cut it cannot use (unreadable or truncated audio, empty text...) and
lists it in the batch's ``skipped``; the loss may drop more (``utterances`` counts what it
used). :class:`SkipMonitor` counts both per update and per epoch and stops training with a
:class:`TrainingDataError` when

- ``max_empty_updates`` updates in a row trained on no utterance at all (every rank's
  batches were skipped: e.g. the corpus folder moved), or
- an epoch skipped more than ``max_fraction`` of its utterances.

The error names the counts, the reasons and the first cuts with their files.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Iterable, List

MAX_EXAMPLES = 5
FIX = "check the data with `python -m xlsr.bin.validate_data CUTS`"


class TrainingDataError(RuntimeError):
    """Training stopped because too much of its data could not be used."""


class SkipMonitor:
    """Counts skipped and used utterances; raises when a limit is passed.

    Args:
        max_empty_updates: consecutive updates without a single utterance that are
            tolerated (0: none).
        max_fraction: largest fraction of an epoch's utterances that may be skipped.
    """

    def __init__(self, max_empty_updates: int, max_fraction: float) -> None:
        self.max_empty_updates, self.max_fraction = max_empty_updates, max_fraction
        self.empty_in_row = 0
        self.since_log = 0  # skipped utterances since the last log line
        self.new_epoch()

    def new_epoch(self) -> None:
        """Starts counting the next epoch."""
        self.used, self.skipped = 0, 0
        self.reasons: Counter = Counter()
        self.examples: List[str] = []

    def add_batches(self, batches: Iterable[Any]) -> int:
        """Records the skips listed in this process's ``batches``; returns their number."""
        n = 0
        for batch in batches:
            if not isinstance(batch, dict):
                continue
            sources = batch.get("skipped_sources", {})
            for cut_id, reason in batch.get("skipped", []):
                n += 1
                self.reasons[reason] += 1
                if len(self.examples) < MAX_EXAMPLES:
                    where = f": {sources[cut_id]}" if sources.get(cut_id) else ""
                    self.examples.append(f"{cut_id} ({reason}{where})")
        return n

    def after_update(self, update: int, used: int, skipped: int) -> None:
        """Counts one update's utterances (summed over ranks) and checks the empty-run limit."""
        self.used += used
        self.skipped += skipped
        self.since_log += skipped
        self.empty_in_row = self.empty_in_row + 1 if used == 0 else 0
        if self.empty_in_row > self.max_empty_updates:
            raise TrainingDataError(
                f"{self.empty_in_row} updates in a row (up to update {update}) trained on no "
                f"utterance: {self.describe()}. Nothing was learnt; {FIX} "
                "(or raise max_skipped_updates)"
            )

    def check_epoch(self, epoch: int) -> None:
        """Checks the skipped fraction of the epoch (so far)."""
        total = self.used + self.skipped
        if total and self.skipped / total > self.max_fraction:
            raise TrainingDataError(
                f"epoch {epoch}: {self.skipped} of {total} utterances skipped "
                f"({100 * self.skipped / total:.1f} % > max_skipped_fraction "
                f"{100 * self.max_fraction:.1f} %): {self.describe()}; {FIX} "
                "(or raise max_skipped_fraction)"
            )

    @property
    def fraction(self) -> float:
        """Skipped fraction of this epoch so far."""
        total = self.used + self.skipped
        return self.skipped / total if total else 0.0

    def describe(self) -> str:
        """Counts by reason and the first skipped cuts of this process."""
        reasons = ", ".join(f"{r}={n}" for r, n in sorted(self.reasons.items())) or "none listed"
        first = "; ".join(self.examples) or "none in this process"
        return f"skipped {self.skipped} ({reasons}); first: {first}"

    def state_dict(self) -> Dict[str, Any]:
        return {
            "used": self.used,
            "skipped": self.skipped,
            "reasons": dict(self.reasons),
            "examples": list(self.examples),
            "empty_in_row": self.empty_in_row,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.used, self.skipped = state["used"], state["skipped"]
        self.reasons, self.examples = Counter(state["reasons"]), list(state["examples"])
        self.empty_in_row = state["empty_in_row"]
