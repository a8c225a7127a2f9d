"""Scoring: WER/CER and the result files of a decode (``hyps-``, ``score-``, ``errs-``)."""

from xlsr.scoring.asr import (
    WerStats,
    align,
    score_utterances,
    utterance_stats,
    write_errs,
)
from xlsr.scoring.results import recount, write_results, write_summary

__all__ = [
    "WerStats",
    "align",
    "recount",
    "score_utterances",
    "utterance_stats",
    "write_errs",
    "write_results",
    "write_summary",
]
