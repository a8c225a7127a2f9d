#!/usr/bin/env python3
"""Language side, part 1: tokenizer, lexicon, words/tokens tables and L FSTs.

Usage:
    local/prepare_lang.py --lang-dir data/lang_bpe_500 --cuts data/manifests/numbers_cuts_train.jsonl.gz
        [--lm-text-dir data/corpus/lm_text] [--model-type unigram|bpe|char] [--vocab-size 500]
        [--per-language true|false] [--norm-lowercase true|false] [--norm-remove-punctuation ...]

Options come from TokenizerConfig (--model-type ...) and TextNormConfig (--norm-*).

Transcripts and LM text go through the text normaliser first, which is saved as
<lang-dir>/text_norm.json so that training, LM text and scoring normalise the same way. The
tokenizer is trained on the training transcripts; words.txt covers the transcripts and the
LM text (every LM word must have a pronunciation). L.pt / L_disambig.pt / Linv.pt need
k2 and are skipped with a warning without it.
"""

import argparse
import logging
from collections import defaultdict
from pathlib import Path

from lhotse import load_manifest_lazy

from xlsr.data.text_norm import TextNormalizer, TextNormConfig
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.graph.k2_utils import has_k2
from xlsr.graph.lang_dir import LangDir
from xlsr.graph.lexicon import prepare_lang_dir
from xlsr.utils import config as C


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--cuts", required=True, help="training cuts (transcripts)")
    p.add_argument("--lm-text-dir", default=None, help="<lang>.txt files of LM text")
    C.add_dataclass_args(p, TokenizerConfig)
    C.add_dataclass_args(p, TextNormConfig, prefix="norm_")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    lang = LangDir(a.lang_dir)
    normalize = TextNormalizer(C.from_args(TextNormConfig, a, prefix="norm_"))
    texts = defaultdict(list)
    for cut in load_manifest_lazy(a.cuts):
        for sup in cut.supervisions:
            if sup.text and normalize(sup.text):
                texts[sup.language or "all"].append(normalize(sup.text))
    cfg = C.from_args(TokenizerConfig, a)
    tok = train_tokenizer(dict(texts), lang.tokenizer_dir, cfg)
    words = {lang: {w for t in ts for w in t.split()} for lang, ts in texts.items()}
    if a.lm_text_dir:
        for path in sorted(Path(a.lm_text_dir).glob("*.txt")):
            text = normalize(path.read_text(encoding="utf-8"))
            words.setdefault(path.stem, set()).update(text.split())
    prepare_lang_dir(lang.path, tok, {k: sorted(v) for k, v in words.items()})
    normalize.save(lang.path)  # lang.text_norm
    if has_k2():
        from xlsr.graph.compile import make_lang_fsts

        make_lang_fsts(lang.path)
    else:
        logging.warning("k2 is not installed: L.pt, L_disambig.pt and Linv.pt not built")


if __name__ == "__main__":
    main()
