"""Decode and score an ONNX export with sherpa-onnx and onnxruntime.

Usage:
    python -m xlsr.bin.decode_onnx --model exp/ctc/onnx \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--test-set test] \\
        [--methods sherpa-greedy,sherpa-hlg,sherpa-h,ort-greedy,ort-hlg] \\
        [--precisions fp32,int8] [--num-threads 1] [--max-active 3000] [--search-beam 16]
    python -m xlsr.bin.decode_onnx --model exp/transducer/onnx --cuts ... \\
        [--methods ort-greedy_search,ort-modified_beam_search] [--beam-size 4]

--model: an ONNX dir of python -m xlsr.bin.export_onnx (the task comes from its onnx.json).
--cuts: a lhotse cut manifest, a Kaldi data dir or audio files (as xlsr.bin.decode). Writes
EXP_DIR/decode/<method>/<precision>/{hyps,score,errs}-<test_set>.* (every utterance
accounted for; score files also hold the client's timing and real-time factor) and
EXP_DIR/decode/summary-<test_set>.txt; EXP_DIR defaults to --model.
"""

from __future__ import annotations

import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    from xlsr.tasks.onnx_decode import decode_onnx_main

    return decode_onnx_main(argv, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
