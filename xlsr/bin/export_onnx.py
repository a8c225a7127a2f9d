"""Export an ASR model (CTC or transducer) to ONNX for sherpa-onnx and onnxruntime.

Usage:
    python -m xlsr.bin.export_onnx --model exp/ctc --out exp/ctc/onnx [--int8] \\
        [--checkpoint last|averaged|PATH] [--lang-dir data/lang_char]
    python -m xlsr.bin.export_onnx --exp-dir exp/transducer --out exp/transducer/onnx

--model (or --exp-dir): an exp dir, a checkpoint, an exported model dir (xlsr.bin.export), a
Hugging Face Wav2Vec2ForCTC dir or a fairseq wav2vec_ctc checkpoint. CTC writes OUT/model.onnx
(raw 16 kHz samples -> log-probs, the layout sherpa-onnx runs as an "omnilingual ASR" CTC
model), tokens.txt, HLG.fst and words.txt (from the lang dir) and H.fst (with k2); a
transducer writes OUT/encoder.onnx, decoder.onnx, joiner.onnx (icefall's layout) and
tokens.txt. --int8 adds <name>.int8.onnx (dynamic int8 MatMul weights). OUT/onnx.json lists
the files and their sizes; OUT/README.md the commands that decode them
(python -m xlsr.bin.decode_onnx). An OUT that holds an earlier ONNX export is replaced; any
other non-empty OUT is refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="what xlsr.load_model reads (exp dir, checkpoint, ...)")
    src.add_argument("--exp-dir", dest="model", help="an exp dir of xlsr.bin.train (= --model)")
    p.add_argument("--out", required=True, help="the ONNX dir to write")
    p.add_argument(
        "--checkpoint",
        default="last",
        help="exp dirs: last (the newest readable checkpoint) | averaged | a checkpoint file",
    )
    p.add_argument("--lang-dir", default=None, help="the lang dir (default: the model's)")
    p.add_argument("--int8", action="store_true", help="also write int8 models")
    args = p.parse_args(argv)
    from xlsr.models.fairseq_hf import CheckpointError
    from xlsr.tasks.onnx_export import export_onnx
    from xlsr.utils.logging import setup_logging

    setup_logging()
    try:
        export_onnx(args.model, args.out, args.checkpoint, args.lang_dir, args.int8)
    except (ValueError, FileNotFoundError, CheckpointError) as e:
        raise SystemExit(f"export_onnx: {e}") from e
    return 0


if __name__ == "__main__":
    sys.exit(main())
