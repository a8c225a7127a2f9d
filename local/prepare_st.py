#!/usr/bin/env python3
"""Stage 2 of the ST recipes: the translation pairs of one direction and its lang dir.

Usage:
    local/prepare_st.py --manifest-dir data/manifests --direction x-en \
        --lang-dir data/lang_st_x-en [--vocab-size 500] [--model-type unigram] [--cased]
    local/prepare_st.py --manifest-dir data/manifests --direction en-x --from-pairs \
        --lang-dir data/lang_st_en-x [--vocab-size 32000] [--cased]
    local/prepare_st.py --manifest-dir data/manifests --sources --lang-dir data/lang_st_src

egs/numbers/ST: writes <manifest-dir>/st_cuts_<split>_<direction>.jsonl.gz for train, dev
and test from numbers_cuts_<split>.jsonl.gz (one cut per utterance and target language:
``xlsr.data.translation.st_pairs``) and, from the train pairs, <lang-dir>/target_tokenizer/
(sentencepiece with the mBART-50 language tags), <lang-dir>/tokenizer/ (the source
transcripts' characters, for the auxiliary CTC loss) and <lang-dir>/text_norm.json (one
normaliser for sources, targets, references and hypotheses).

With ``--from-pairs`` (egs/covost2/ST, whose stage 1 writes the pairs itself): the pairs
are read from <manifest-dir>/st_cuts_train_<direction>.jsonl.gz (lazily) and only the lang
dir is written. ``--cased`` keeps case, hyphens and punctuation (Unicode NFC and
whitespace only), so that BLEU is computed on the corpus' own spelling; the default is the
toolkit's lower-cased, punctuation-free normalisation.

Language tags: ``xlsr.data.translation.language_tag`` (mBART-50 codes, and
``CORPUS_TAGS`` for the CoVoST 2 targets beyond them); they are stored in
``target_tokenizer.json``.

With ``--sources`` instead of ``--direction``: the lang dir of every language's train
transcripts (``tokenizer/`` characters, ``text_norm.json``) for the CTC pretraining of the
shared encoder (stage 3).
"""

import argparse
import logging
from collections import defaultdict
from pathlib import Path

from lhotse import CutSet, load_manifest

from xlsr.data.text_norm import TextNormalizer, TextNormConfig
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.data.translation import (
    DIRECTIONS,
    TargetTokenizerConfig,
    st_pairs,
    target_texts,
    train_target_tokenizer,
)

CASED = TextNormConfig(lowercase=False, hyphen_to_space=False, remove_punctuation=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--manifest-dir", required=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--direction", choices=sorted(DIRECTIONS))
    what.add_argument("--sources", action="store_true", help="every train transcript (CTC)")
    p.add_argument("--from-pairs", action="store_true", help="the pairs exist: lang dir only")
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--vocab-size", type=int, default=500, help="target sentencepiece size")
    p.add_argument("--model-type", default="unigram", choices=["unigram", "bpe"])
    p.add_argument("--cased", action="store_true", help="keep case and punctuation")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    manifests, lang = Path(a.manifest_dir), Path(a.lang_dir)
    normalize = TextNormalizer(CASED if a.cased else None)
    lang.mkdir(parents=True, exist_ok=True)
    normalize.save(lang)
    if a.sources:
        train_sources(load_manifest(manifests / "numbers_cuts_train.jsonl.gz"), lang, normalize)
        return
    if a.from_pairs:
        path = manifests / f"st_cuts_train_{a.direction}.jsonl.gz"
        if not path.is_file():
            raise SystemExit(f"{path}: no translation pairs (the recipe's stage 1 writes them)")
        train = CutSet.from_jsonl_lazy(path)
    else:
        train = write_pairs(manifests, a.direction)
    cfg = TargetTokenizerConfig(model_type=a.model_type, vocab_size=a.vocab_size)
    target = train_target_tokenizer(target_texts(train), lang / "target_tokenizer", cfg, normalize)
    logging.info("target tokenizer: %d ids, tags %s", target.vocab_size, target.languages)
    train_sources(train, lang, normalize, once_per_recording=a.from_pairs)


def write_pairs(manifests: Path, direction: str) -> CutSet:
    """st_cuts_<split>_<direction> of the numbers cuts; returns the train pairs."""
    for split in ("train", "dev", "test"):
        pairs = st_pairs(load_manifest(manifests / f"numbers_cuts_{split}.jsonl.gz"), direction)
        pairs.to_file(manifests / f"st_cuts_{split}_{direction}.jsonl.gz")
        logging.info("%s %s: %d pairs", direction, split, len(pairs))
        if split == "train":
            train = pairs
    return train


def train_sources(cuts, lang: Path, normalize, once_per_recording: bool = False) -> None:
    """``lang/tokenizer``: the characters of the cuts' transcripts (the CTC targets); with
    ``once_per_recording`` each recording's transcript counts once (an English clip has a
    pair per target language)."""
    sources, seen = defaultdict(list), set()
    for cut in cuts:
        if once_per_recording:
            if cut.recording_id in seen:
                continue
            seen.add(cut.recording_id)
        text = normalize(cut.supervisions[0].text or "")
        if text:
            sources[cut.supervisions[0].language].append(text)
    train_tokenizer(dict(sources), lang / "tokenizer", TokenizerConfig(model_type="char"))
    logging.info("source characters of %s", ", ".join(sorted(sources)))


if __name__ == "__main__":
    main()
