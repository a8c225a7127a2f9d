#!/usr/bin/env python3
"""LM training text: the external LM text and the training transcripts, normalised by the
lang dir's text normaliser (<lang-dir>/text_norm.json), one sentence a line.

Usage:
    local/prepare_lm_text.py --lang-dir data/lang_char \\
        --cuts data/manifests/numbers_cuts_train.jsonl.gz [--lm-text-dir data/corpus/lm_text] \\
        --out data/lang_char/lm_text.txt
"""

import argparse
import logging
from pathlib import Path

from lhotse import load_manifest_lazy

from xlsr.data.dataset import cut_text
from xlsr.data.text_norm import TextNormalizer
from xlsr.utils.io import atomic_write_text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang-dir", required=True, help="lang dir with text_norm.json")
    p.add_argument("--cuts", required=True, help="training cuts (transcripts)")
    p.add_argument("--lm-text-dir", default=None, help="<lang>.txt files of external LM text")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    normalize = TextNormalizer.load(a.lang_dir)
    lines = []
    if a.lm_text_dir:
        for path in sorted(Path(a.lm_text_dir).glob("*.txt")):
            lines += [normalize(t) for t in path.read_text(encoding="utf-8").splitlines()]
    external = len(lines)
    lines += [normalize(cut_text(cut)) for cut in load_manifest_lazy(a.cuts)]
    lines = [t for t in lines if t]
    out = Path(a.out)
    atomic_write_text(out, "".join(t + "\n" for t in lines))
    logging.info(
        "%s: %d lines (%d external, %d transcripts)",
        out,
        len(lines),
        external,
        len(lines) - external,
    )


if __name__ == "__main__":
    main()
