"""Decode a pruned transducer model and score it.

Usage:
    python -m xlsr.bin.decode_transducer --exp-dir exp/transducer --lang-dir data/lang_char \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--test-set test] \\
        [--checkpoint averaged|last|PATH] [--epoch 10 --avg 3] \\
        [--methods greedy_search,modified_beam_search,fast_beam_search,fast_beam_search_nbest_LG] \\
        [--max-sym-per-frame 1] [--beam-size 4] [--beam 20 --max-contexts 8 --max-states 64] \\
        [--num-paths 200 --nbest-scale 0.5 --ngram-lm-scales 0.01,0.1,0.3] \\
        [--skipped-utts deleted|excluded]

Writes, per method (and n-gram LM scale for fast_beam_search_nbest_LG), EXP_DIR/decode/
<method>/hyps-<test_set>.jsonl, score-<test_set>.json and errs-<test_set>.txt, and
EXP_DIR/decode/summary-<test_set>.txt (WER of every method, best first), as decode_ctc does.
fast_beam_search uses a trivial graph (every token sequence), fast_beam_search_nbest_LG the
lang dir's LG.pt (words from the lexicon and the 3-gram LM). The fast methods need k2.
Every utterance of --cuts is accounted for, and options, the lang dir and the model are
checked before any decoding, as in decode_ctc (see xlsr.bin.decode_common).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

from xlsr.bin import decode_common as C
from xlsr.data.tokenizer import Tokenizer, read_symbols
from xlsr.models.transducer import TransducerConfig, TransducerModel
from xlsr.utils import argtypes as A

METHODS = ("greedy_search", "modified_beam_search", "fast_beam_search", "fast_beam_search_nbest_LG")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(p)
    p.add_argument("--methods", default="greedy_search,modified_beam_search")
    p.add_argument("--max-sym-per-frame", type=A.positive_int, default=1, help="greedy_search")
    p.add_argument("--beam-size", type=A.positive_int, default=4, help="modified_beam_search")
    p.add_argument(
        "--beam", type=A.positive_float, default=20.0, help="fast beam search: search beam"
    )
    p.add_argument("--max-contexts", type=A.positive_int, default=8, help="fast beam search")
    p.add_argument("--max-states", type=A.positive_int, default=64, help="fast beam search")
    p.add_argument(
        "--num-paths", type=A.positive_int, default=200, help="fast_beam_search_nbest_LG"
    )
    p.add_argument(
        "--nbest-scale", type=A.positive_float, default=0.5, help="fast_beam_search_nbest_LG"
    )
    p.add_argument(
        "--ngram-lm-scales",
        type=A.scale_list,
        default="0.01,0.1,0.3",
        help="fast_beam_search_nbest_LG: scales of LG's scores, one result each",
    )
    return p.parse_args(argv)


def lang_files(methods: List[str]) -> Dict[str, str]:
    """Files of --lang-dir the methods need (name -> method)."""
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(Path())  # only names, relative to the lang dir
    needs = {lang.name(lang.tokenizer_tokens): "the model's tokens"}
    if "fast_beam_search_nbest_LG" in methods:
        for path in (lang.words, lang.LG):
            needs[lang.name(path)] = "fast_beam_search_nbest_LG"
    return needs


def load_model(args):
    """(model, model info) of the exp dir's checkpoints, checked against --lang-dir."""
    return C.load_head_model(args, "transducer", TransducerModel, TransducerConfig)


def decode_batch(model, methods, encoder_out, frames, ctx) -> Dict[str, List[str]]:
    """{method name: hypothesis text per utterance} for one batch."""
    from xlsr.decode import transducer as D

    tok, args = ctx["tokenizer"], ctx["args"]
    out: Dict[str, List[str]] = {}
    if "greedy_search" in methods:
        seqs = D.greedy_search(model, encoder_out, frames, args.max_sym_per_frame)
        out["greedy_search"] = [tok.decode(s) for s in seqs]
    if "modified_beam_search" in methods:
        seqs = D.modified_beam_search(model, encoder_out, frames, args.beam_size)
        out["modified_beam_search"] = [tok.decode(s) for s in seqs]
    fast = dict(beam=args.beam, max_states=args.max_states, max_contexts=args.max_contexts)
    if "fast_beam_search" in methods:
        seqs = D.fast_beam_search_one_best(model, ctx["trivial"], encoder_out, frames, **fast)
        out["fast_beam_search"] = [tok.decode(s) for s in seqs]
    if "fast_beam_search_nbest_LG" in methods:
        words = ctx["words"]
        for scale in args.ngram_lm_scales:
            seqs = D.fast_beam_search_nbest_LG(
                model,
                ctx["LG"],
                encoder_out,
                frames,
                **fast,
                num_paths=args.num_paths,
                nbest_scale=args.nbest_scale,
                ngram_lm_scale=float(scale),
            )
            name = f"fast_beam_search_nbest_LG/ngram_lm_scale_{scale}"
            out[name] = [" ".join(words[w] for w in s) for s in seqs]
    return out


def build_context(args, methods, model) -> dict:
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(args.lang_dir)
    ctx = {"args": args, "tokenizer": Tokenizer(lang.tokenizer_dir)}
    if "fast_beam_search" in methods:
        from xlsr.decode.transducer import trivial_graph

        ctx["trivial"] = trivial_graph(model)
    if "fast_beam_search_nbest_LG" in methods:
        from xlsr.graph.compile import load_fsa

        ctx["words"] = read_symbols(lang.words)
        ctx["LG"] = load_fsa(lang.LG)  # scaled by each --ngram-lm-scales value
    return ctx


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    methods = C.parse_methods(args.methods, METHODS)
    C.check_common_args(args)
    C.check_lang_files(args.lang_dir, lang_files(methods))
    C.start_logging(args)
    test_set = C.load_test_set(args)
    model, info = load_model(args)
    ctx = build_context(args, methods, model)
    C.decode_and_score(
        args,
        model,
        lambda out, frames: decode_batch(model, methods, out, frames, ctx),
        test_set,
        info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
