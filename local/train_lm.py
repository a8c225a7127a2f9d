#!/usr/bin/env python3
"""Language side, part 2: n-gram LMs (kaldingram) and their G FSTs (kaldilm -> k2).

Usage:
    local/train_lm.py --lang-dir data/lang_bpe_500 --text data/lang_bpe_500/lm_text.txt
        [--orders 3,4] [--prune-threshold 0]

--orders FIRST_PASS[,RESCORE]: writes <lang-dir>/lm/<N>gram.arpa and <lang-dir>/G_<N>_gram.pt
(G needs k2) for both orders, and records them in <lang-dir>/lm_orders.json: the graphs are
compiled from the first, the rescoring methods use the second.
"""

import argparse
import logging

from xlsr.graph.lang_dir import orders_arg
from xlsr.graph.lm import make_lms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--orders", type=orders_arg, default="3,4", help="FIRST_PASS[,RESCORE]")
    p.add_argument("--prune-threshold", type=float, default=0.0, help="0: no pruning")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    make_lms(a.lang_dir, a.text, *a.orders, prune_threshold=a.prune_threshold or None)


if __name__ == "__main__":
    main()
