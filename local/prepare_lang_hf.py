#!/usr/bin/env python3
"""Lang dir and graphs for decoding an existing Hugging Face Wav2Vec2ForCTC with a word LM.

Usage:
    local/prepare_lang_hf.py --hf-model DIR --lang-dir data/lang_hf --lm-text text.txt
        [--orders 3,4]

Tokens are the model's vocab.json (blank first), words are those of the LM text spelled with
the model's characters (``|`` optional between words); builds L, the LMs and G of both
--orders FIRST_PASS[,RESCORE] (kaldingram + kaldilm), LG, HLG.pt and HLG.fst (from the
first-pass G). Then: python -m xlsr.bin.decode --task asr_ctc --hf-model DIR --lang-dir ...
"""

import argparse
import logging
from pathlib import Path

from xlsr.graph import compile as graph
from xlsr.graph.lang_dir import orders_arg
from xlsr.graph.lm import make_lms
from xlsr.models.hf_ctc import HfVocab, prepare_hf_lang_dir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hf-model", required=True)
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--lm-text", required=True, help="one sentence per line")
    p.add_argument("--orders", type=orders_arg, default="3,4", help="FIRST_PASS[,RESCORE]")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    text = Path(a.lm_text).read_text(encoding="utf-8")
    prepare_hf_lang_dir(a.lang_dir, HfVocab(a.hf_model), text.split())
    graph.make_lang_fsts(a.lang_dir)
    make_lms(a.lang_dir, a.lm_text, *a.orders)
    graph.build_graphs(a.lang_dir, *a.orders)


if __name__ == "__main__":
    main()
