#!/usr/bin/env python3
"""Stage 1 of egs/numbers: lhotse manifests, cuts and Kaldi-style data dirs.

Usage:
    local/prepare_numbers.py --corpus-dir data/corpus --output-dir data/manifests

Writes numbers_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz and
kaldi/{train,dev,test}/ into the output dir.
"""

import argparse
import logging
from pathlib import Path

from lhotse import CutSet

from xlsr.data.numbers import prepare_numbers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True)
    p.add_argument("--output-dir", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    out = Path(a.output_dir)
    for split, m in prepare_numbers(a.corpus_dir, out).items():
        cuts = CutSet.from_manifests(recordings=m["recordings"], supervisions=m["supervisions"])
        cuts.to_file(out / f"numbers_cuts_{split}.jsonl.gz")


if __name__ == "__main__":
    main()
