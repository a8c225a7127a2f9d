"""Scoring: WER/CER, BLEU/chrF and the result files of a decode (``hyps-``, ``score-``,
``errs-``, ``report-``)."""

from xlsr.scoring.asr import (
    WerStats,
    align,
    score_utterances,
    utterance_stats,
    write_errs,
)
from xlsr.scoring.results import recount, write_results, write_summary
from xlsr.scoring.translation import translation_scores, write_translation_results

__all__ = [
    "WerStats",
    "align",
    "recount",
    "score_utterances",
    "translation_scores",
    "utterance_stats",
    "write_errs",
    "write_results",
    "write_summary",
    "write_translation_results",
]
