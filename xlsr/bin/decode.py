"""Decode any task and score it: every utterance of the test set accounted for.

Usage:
    python -m xlsr.bin.decode --task asr_ctc --exp-dir exp/ctc --lang-dir data/lang_char \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--test-set test] \\
        [--config conf/decode_asr_ctc.yaml] [--methods ctc-greedy-search,1best,...] \\
        [--checkpoint averaged|last|PATH] [--epoch 10 --avg 3] [--iter N --avg K \\
        --use-averaged-model] [--skipped-utts deleted|excluded] [method options ...]
    python -m xlsr.bin.decode --exp-dir exp/ctc ...        # the task from exp/ctc/config.yaml
    python -m xlsr.bin.decode --task asr_ctc --hf-model wav2vec2-ctc-dir --exp-dir exp/hf ...

Methods and their options (each option is a field of the method's config dataclass; YAML
``--config`` has ``methods:`` and ``options:``): asr_ctc: ctc-greedy-search, ctc-decoding,
1best, nbest, nbest-rescoring, whole-lattice-rescoring (--search-beam, --output-beam,
--min-active-states, --max-active-states, --num-paths, --nbest-scale, --lm-scales);
asr_transducer: greedy_search, modified_beam_search, fast_beam_search,
fast_beam_search_nbest_LG (--max-sym-per-frame, --beam-size, --beam, --max-contexts,
--max-states, --num-paths, --nbest-scale, --ngram-lm-scales).

Writes, per method (and LM scale), EXP_DIR/decode/<method>/hyps-<test_set>.jsonl,
score-<test_set>.json and errs-<test_set>.txt, and EXP_DIR/decode/summary-<test_set>.txt.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from xlsr.bin.task_option import resolve_task
from xlsr.tasks.decoding import decode_main


def main(argv: Optional[List[str]] = None) -> int:
    task = resolve_task(argv, "decode")
    return decode_main(argv, task, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
