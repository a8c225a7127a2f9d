#!/usr/bin/env python3
"""Stage 2 of classification recipes: the label dictionary ``<lang dir>/labels.txt``.

Usage:
    local/prepare_labels.py --cuts data/manifests/numbers_cuts_train.jsonl.gz \
        --field language --lang-dir data/lang_lid

One label a line, in class-id order: the sorted distinct values of the supervisions'
``--field`` (``language`` for LID, ``speaker`` for SID) in the training cuts.
"""

import argparse
import logging

from lhotse import load_manifest_lazy

from xlsr.tasks.classification import write_labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cuts", required=True, help="the training cuts")
    p.add_argument("--field", required=True, choices=["language", "speaker"])
    p.add_argument("--lang-dir", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    labels = write_labels(load_manifest_lazy(a.cuts), a.field, a.lang_dir)
    logging.info("%s/labels.txt: %d labels (%s)", a.lang_dir, len(labels), " ".join(labels[:12]))


if __name__ == "__main__":
    main()
