#!/usr/bin/env python3
"""Stage 0 of egs/numbers: synthesise the spoken-numbers corpus with espeak-ng.

Usage:
    local/synthesize_numbers.py --corpus-dir data/corpus [--num-utterances 3000]
        [--languages en,de,fr,...] [--speakers-per-language 8] [--max-number 9999]
        [--heldout-fraction 0.2] [--seed 0] [--num-jobs 2]
        [--min-numbers-per-utterance 1] [--max-numbers-per-utterance 2]
        [--eval-speakers-per-language 1] ...

The LID / SID recipes speak more numbers per utterance (e.g. 1..6: about 0.5-19 s, a third
of them <= 5 s) than the ASR corpus (1..2), and SID verification wants several dev / test
speakers per language; the defaults make the same corpus as before these options existed.

Every field of ``xlsr.data.numbers.NumbersConfig`` is an option (generated from it).
"""

import argparse
import logging

from xlsr.data.numbers import NumbersConfig, synthesize_numbers
from xlsr.utils import config as C


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True)
    p.add_argument("--num-jobs", type=int, default=2, help="synthesis processes")
    C.add_dataclass_args(p, NumbersConfig)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        cfg = C.from_args(NumbersConfig, a)
    except ValueError as e:
        p.error(str(e))
    synthesize_numbers(a.corpus_dir, cfg, num_jobs=a.num_jobs)


if __name__ == "__main__":
    main()
