#!/usr/bin/env python3
"""Graphs: LG.pt (transducer fast beam search), HLG.pt (CTC) and HLG.fst (OpenFst).

Usage:
    local/compile_graphs.py --lang-dir data/lang_bpe_500 [--lm-orders 3,4] [--modified-ctc]
        [--max-g-arcs 5000000]

LG and HLG are compiled from G_<first>_gram.pt; the orders (default: those local/train_lm.py
recorded in <lang-dir>/lm_orders.json) are recorded again, so decoding rescores with
G_<rescore>_gram.pt.
"""

import argparse
import logging

from xlsr.graph.compile import MAX_G_ARCS, build_graphs
from xlsr.graph.lang_dir import LangDir, orders_arg


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang-dir", required=True)
    p.add_argument(
        "--lm-orders",
        type=orders_arg,
        default=None,
        help="FIRST_PASS[,RESCORE] LM orders (default: the lang dir's lm_orders.json, else 3,4)",
    )
    p.add_argument("--modified-ctc", action="store_true", help="modified CTC topology for H")
    p.add_argument("--max-g-arcs", type=int, default=MAX_G_ARCS)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    first, rescore = a.lm_orders or LangDir(a.lang_dir).orders
    build_graphs(a.lang_dir, first, rescore, modified_ctc=a.modified_ctc, max_g_arcs=a.max_g_arcs)


if __name__ == "__main__":
    main()
