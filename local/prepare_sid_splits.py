#!/usr/bin/env python3
"""Stage 1 of egs/numbers/SID: the speaker-ID splits and the verification trials.

Usage:
    local/prepare_sid_splits.py --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \
        --unseen-cuts data/manifests/numbers_cuts_dev.jsonl.gz data/manifests/numbers_cuts_test.jsonl.gz \
        --output-dir data/manifests [--test-fraction 0.1] [--dev-fraction 0.05] [--seed 0]

Writes sid_cuts_{train,dev,test}.jsonl.gz (the training speakers' utterances, a held-out
share of each speaker for dev and test: identification), sid_cuts_veri.jsonl.gz (the
unseen speakers) and sid_trials_veri.txt (``<1|0> <enrolment id> <test id>`` a line).
"""

import argparse
import logging
from pathlib import Path

from lhotse import CutSet, load_manifest

from xlsr.data.speaker_splits import identification_splits, make_trials, write_trials


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-cuts", required=True)
    p.add_argument("--unseen-cuts", nargs="+", required=True)
    p.add_argument("--output-dir", required=True)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p.add_argument("--dev-fraction", type=float, default=0.05)
    p.add_argument("--trials-per-utt", type=int, default=5, help="target and non-target each")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    out = Path(a.output_dir)
    splits = identification_splits(
        load_manifest(a.train_cuts), a.test_fraction, a.dev_fraction, a.seed
    )
    for name, cuts in splits.items():
        CutSet.from_cuts(cuts).to_file(out / f"sid_cuts_{name}.jsonl.gz")
        speakers = {c.supervisions[0].speaker for c in cuts}
        logging.info("sid %s: %d utterances of %d speakers", name, len(cuts), len(speakers))
    unseen = [c for path in a.unseen_cuts for c in load_manifest(path)]
    CutSet.from_cuts(unseen).to_file(out / "sid_cuts_veri.jsonl.gz")
    trials = make_trials(unseen, a.trials_per_utt, a.trials_per_utt, a.seed)
    write_trials(trials, out / "sid_trials_veri.txt")
    n_target = sum(t for t, _, _ in trials)
    logging.info(
        "sid veri: %d utterances of %d unseen speakers, %d trials (%d target)",
        len(unseen),
        len({c.supervisions[0].speaker for c in unseen}),
        len(trials),
        n_target,
    )


if __name__ == "__main__":
    main()
