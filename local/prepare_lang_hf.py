#!/usr/bin/env python3
"""Lang dir and graphs for decoding an existing Hugging Face Wav2Vec2ForCTC with a word LM.

Usage:
    local/prepare_lang_hf.py --hf-model DIR --lang-dir data/lang_hf --lm-text text.txt
        [--order 3]

Tokens are the model's vocab.json (blank first), words are those of the LM text spelled with
the model's characters (``|`` optional between words); builds L, G (kaldingram + kaldilm),
LG, HLG.pt and HLG.fst. Then: python -m xlsr.bin.decode_ctc --hf-model DIR --lang-dir ...
"""

import argparse
import logging
from pathlib import Path

import torch

from xlsr.graph import compile as graph
from xlsr.graph import lm
from xlsr.models.hf_ctc import HfVocab, prepare_hf_lang_dir


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hf-model", required=True)
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--lm-text", required=True, help="one sentence per line")
    p.add_argument("--order", type=int, default=3)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    lang = Path(a.lang_dir)
    vocab = HfVocab(a.hf_model)
    text = Path(a.lm_text).read_text(encoding="utf-8")
    prepare_hf_lang_dir(lang, vocab, text.split())
    graph.make_lang_fsts(lang)
    arpa = lm.train_arpa(a.lm_text, lang / "lm" / f"{a.order}gram.arpa", a.order)
    G = lm.make_G(arpa, lang / "words.txt", lang / f"G_{a.order}_gram.pt")
    LG = graph.compile_lg(lang, G)
    torch.save(LG.as_dict(), lang / "LG.pt")
    HLG = graph.compile_hlg(LG, vocab.vocab_size - 1)
    torch.save(HLG.as_dict(), lang / "HLG.pt")
    graph.write_hlg_fst(HLG, lang / "HLG.fst")


if __name__ == "__main__":
    main()
