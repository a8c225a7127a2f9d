#!/usr/bin/env python3
"""Graphs: LG.pt (transducer fast beam search), HLG.pt (CTC) and HLG.fst (OpenFst).

Usage:
    local/compile_graphs.py --lang-dir data/lang_bpe_500 [--G G_3_gram.pt] [--modified-ctc]
        [--max-g-arcs 5000000]
"""

import argparse
import logging
from pathlib import Path

import torch

from xlsr.data.tokenizer import read_symbols
from xlsr.graph import compile as graph


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--G", default="G_3_gram.pt", help="first-pass G inside the lang dir")
    p.add_argument("--modified-ctc", action="store_true", help="modified CTC topology for H")
    p.add_argument("--max-g-arcs", type=int, default=graph.MAX_G_ARCS)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    lang_dir = Path(a.lang_dir)
    G = graph.load_fsa(lang_dir / a.G)
    LG = graph.compile_lg(lang_dir, G, a.max_g_arcs)
    torch.save(LG.as_dict(), lang_dir / "LG.pt")
    tokens = [t for t in read_symbols(lang_dir / "tokens.txt") if not t.startswith("#")]
    HLG = graph.compile_hlg(LG, len(tokens) - 1, modified=a.modified_ctc)
    torch.save(HLG.as_dict(), lang_dir / "HLG.pt")
    graph.write_hlg_fst(HLG, lang_dir / "HLG.fst")


if __name__ == "__main__":
    main()
