#!/usr/bin/env python3
"""Stage 2 of egs/numbers/ST: the translation pairs of one direction and its lang dir.

Usage:
    local/prepare_st.py --manifest-dir data/manifests --direction x-en \
        --lang-dir data/lang_st_x-en [--vocab-size 500] [--model-type unigram]
    local/prepare_st.py --manifest-dir data/manifests --sources --lang-dir data/lang_st_src

Writes <manifest-dir>/st_cuts_<split>_<direction>.jsonl.gz for train, dev and test (one cut
per utterance and target language: ``xlsr.data.translation.st_pairs``) and, from the train
pairs, <lang-dir>/target_tokenizer/ (sentencepiece with the mBART-50 language tags),
<lang-dir>/tokenizer/ (the source transcripts' characters, for the auxiliary CTC loss) and
<lang-dir>/text_norm.json (one normaliser for sources, targets, references and hypotheses).

With ``--sources`` instead of ``--direction``: the lang dir of every language's train
transcripts (``tokenizer/`` characters, ``text_norm.json``) for the CTC pretraining of the
shared encoder (stage 3).
"""

import argparse
import logging
from collections import defaultdict
from pathlib import Path

from lhotse import load_manifest

from xlsr.data.text_norm import TextNormalizer
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.data.translation import (
    DIRECTIONS,
    TargetTokenizerConfig,
    st_pairs,
    target_texts,
    train_target_tokenizer,
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest-dir", required=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--direction", choices=sorted(DIRECTIONS))
    what.add_argument("--sources", action="store_true", help="every train transcript (CTC)")
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--vocab-size", type=int, default=500, help="target sentencepiece size")
    p.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"])
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    manifests, lang = Path(a.manifest_dir), Path(a.lang_dir)
    normalize = TextNormalizer()
    lang.mkdir(parents=True, exist_ok=True)
    normalize.save(lang)
    if a.sources:
        train_sources(load_manifest(manifests / "numbers_cuts_train.jsonl.gz"), lang, normalize)
        return
    for split in ("train", "dev", "test"):
        pairs = st_pairs(load_manifest(manifests / f"numbers_cuts_{split}.jsonl.gz"), a.direction)
        pairs.to_file(manifests / f"st_cuts_{split}_{a.direction}.jsonl.gz")
        logging.info("%s %s: %d pairs", a.direction, split, len(pairs))
        if split == "train":
            train = pairs
    cfg = TargetTokenizerConfig(model_type=a.model_type, vocab_size=a.vocab_size)
    target = train_target_tokenizer(target_texts(train), lang / "target_tokenizer", cfg, normalize)
    logging.info("target tokenizer: %d ids, tags %s", target.vocab_size, target.languages)
    train_sources(train, lang, normalize)


def train_sources(cuts, lang: Path, normalize) -> None:
    """``lang/tokenizer``: the characters of the cuts' transcripts (the CTC targets)."""
    sources = defaultdict(list)
    for cut in cuts:
        text = normalize(cut.supervisions[0].text or "")
        if text:
            sources[cut.supervisions[0].language].append(text)
    train_tokenizer(dict(sources), lang / "tokenizer", TokenizerConfig(model_type="char"))
    logging.info("source characters of %s", ", ".join(sorted(sources)))


if __name__ == "__main__":
    main()
