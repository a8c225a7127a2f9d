#!/usr/bin/env python3
"""Stage 0 of egs/numbers: synthesise the spoken-numbers corpus with espeak-ng.

Usage:
    local/synthesize_numbers.py --corpus-dir data/corpus [--num-utterances 3000]
        [--languages en,de,fr,...] [--speakers-per-language 8] [--seed 0] [--num-jobs 2]
"""

import argparse
import logging

from xlsr.data.numbers import LANGUAGES, NumbersConfig, synthesize_numbers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True)
    p.add_argument("--num-utterances", type=int, default=NumbersConfig.num_utterances)
    p.add_argument("--languages", default=",".join(LANGUAGES))
    p.add_argument("--speakers-per-language", type=int, default=8)
    p.add_argument("--max-number", type=int, default=NumbersConfig.max_number)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-jobs", type=int, default=2)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = NumbersConfig(
        languages=a.languages.split(","),
        num_utterances=a.num_utterances,
        speakers_per_language=a.speakers_per_language,
        max_number=a.max_number,
        seed=a.seed,
    )
    synthesize_numbers(a.corpus_dir, cfg, num_jobs=a.num_jobs)


if __name__ == "__main__":
    main()
