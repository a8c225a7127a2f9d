#!/usr/bin/env python3
"""Language side, part 2: n-gram LMs (kaldingram) and their G FSTs (kaldilm -> k2).

Usage:
    local/train_lm.py --lang-dir data/lang_bpe_500 --text data/lm/lm_text.txt
        [--orders 3,4] [--prune-threshold 0]

Writes <lang-dir>/lm/<N>gram.arpa and <lang-dir>/G_<N>_gram.pt for each order.
"""

import argparse
import logging
from pathlib import Path

from xlsr.graph import lm
from xlsr.graph.k2_utils import has_k2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--orders", default="3,4")
    p.add_argument("--prune-threshold", type=float, default=0.0, help="0: no pruning")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    lang_dir = Path(a.lang_dir)
    for order in (int(o) for o in a.orders.split(",")):
        arpa = lm.train_arpa(a.text, lang_dir / "lm" / f"{order}gram.arpa", order,
                             a.prune_threshold or None)  # fmt: skip
        if has_k2():
            lm.make_G(arpa, lang_dir / "words.txt", lang_dir / f"G_{order}_gram.pt")
        else:
            logging.warning("k2 is not installed: %s built, G_%d_gram.pt not", arpa, order)


if __name__ == "__main__":
    main()
