"""Decode a CTC model (ours, or a Hugging Face Wav2Vec2ForCTC) and score it.

Usage:
    python -m xlsr.bin.decode_ctc --hf-model wav2vec2-xls-r-ctc-dir --exp-dir exp/hf ...
    python -m xlsr.bin.decode_ctc --exp-dir exp/ctc --lang-dir data/lang_bpe_500 \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--test-set test] \\
        [--checkpoint averaged|last|PATH] [--epoch 10 --avg 3] \\
        [--methods ctc-greedy-search,ctc-decoding,1best,nbest,nbest-rescoring,whole-lattice-rescoring] \\
        [--lm-scales 0.1,0.3,0.5,0.7,1.0] [--num-paths 100] [--nbest-scale 0.5] \\
        [--search-beam 20] [--output-beam 8] [--max-active-states 10000] \\
        [--skipped-utts deleted|excluded]

Writes, per method (and LM scale), EXP_DIR/decode/<method>/hyps-<test_set>.jsonl,
score-<test_set>.json and errs-<test_set>.txt, and EXP_DIR/decode/summary-<test_set>.txt
(WER of every method, best first). WER per language as well as overall. Every utterance of
--cuts has a row; one the data loader cannot use is marked ``skipped`` and, by default, scored
as all its words deleted (see xlsr.bin.decode_common). Options, the lang dir's files and the
model are checked against each other before any decoding.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Optional

from xlsr.bin import decode_common as C
from xlsr.data.tokenizer import Tokenizer, read_symbols
from xlsr.decode.graph_search import SearchConfig
from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.utils import argtypes as A

TOKEN_METHODS = ("ctc-greedy-search", "ctc-decoding")
HLG_METHODS = ("1best", "nbest", "nbest-rescoring", "whole-lattice-rescoring")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    C.add_common_args(p)
    p.add_argument(
        "--hf-model",
        default=None,
        type=A.existing_dir,
        help="decode a Hugging Face Wav2Vec2ForCTC directory instead of EXP_DIR's "
        "checkpoints (lang dir from local/prepare_lang_hf.py)",
    )
    p.add_argument("--methods", default="ctc-greedy-search,1best")
    p.add_argument(
        "--lm-scales",
        type=A.scale_list,
        default="0.1,0.3,0.5,0.7,1.0",
        help="LM scales of the rescoring methods, e.g. 0.1,0.3,0.5",
    )
    p.add_argument("--num-paths", type=A.positive_int, default=100)
    p.add_argument("--nbest-scale", type=A.positive_float, default=0.5)
    p.add_argument("--search-beam", type=A.positive_float, default=20.0)
    p.add_argument("--output-beam", type=A.positive_float, default=8.0)
    p.add_argument("--max-active-states", type=A.positive_int, default=10000)
    return p.parse_args(argv)


def lang_files(args, methods: List[str]) -> Dict[str, str]:
    """Files of --lang-dir the methods need (name -> method); the rescoring G is the one of
    the lang dir's recorded LM orders (``lm_orders.json``, see xlsr.graph.lang_dir)."""
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(args.lang_dir)
    needs = {} if args.hf_model else {lang.name(lang.tokenizer_tokens): "the model's tokens"}
    for m in methods:
        if m in HLG_METHODS:
            needs.update({lang.name(lang.words): m, lang.name(lang.HLG): m})
        if m.endswith("rescoring"):
            try:
                rescore_G = lang.rescore_G
            except ValueError as e:
                raise SystemExit(f"--lang-dir {args.lang_dir}: {e}") from None
            needs.setdefault(lang.name(rescore_G), m)
    return needs


def load_model(args):
    """(model, token decoder, model info) of --hf-model or of the exp dir's checkpoints."""
    if not args.hf_model:
        model, info = C.load_head_model(args, "ctc", CtcModel, CtcConfig)
        return model, Tokenizer(Path(args.lang_dir) / "tokenizer"), info
    from xlsr.models.checkpoint import HF_WEIGHT_FILES
    from xlsr.models.hf_ctc import load_hf_ctc

    model, vocab = load_hf_ctc(args.hf_model)
    C.check_lang_dir(args.lang_dir, vocab.vocab_size, args.hf_model)
    hf = Path(args.hf_model)
    weights = [hf / n for n in HF_WEIGHT_FILES if (hf / n).exists()]
    weights = weights or sorted(hf.glob("*.index.json"))
    return model, vocab, C.model_info([hf / "config.json", *weights[:1]], "hf_model")


def decode_batch(methods, log_probs, frames, ctx) -> Dict[str, List[str]]:
    """{method name: hypothesis text per utterance} for one batch."""
    from xlsr.decode import ctc as D

    tok, words, cfg, args = ctx["tokenizer"], ctx.get("words"), ctx["search"], ctx["args"]
    out: Dict[str, List[str]] = {}
    as_words = lambda seqs: [" ".join(words[w] for w in s) for s in seqs]  # noqa: E731
    if "ctc-greedy-search" in methods:
        out["ctc-greedy-search"] = [tok.decode(s) for s in D.greedy_search(log_probs, frames)]
    if "ctc-decoding" in methods:
        seqs = D.ctc_decoding(log_probs, frames, tok.vocab_size - 1, cfg)
        out["ctc-decoding"] = [tok.decode(s) for s in seqs]
    if "1best" in methods:
        out["1best"] = as_words(D.one_best(ctx["HLG"], log_probs, frames, cfg))
    if "nbest" in methods:
        seqs = D.nbest(ctx["HLG"], log_probs, frames, cfg, args.num_paths, args.nbest_scale)
        out["nbest"] = as_words(seqs)
    if "nbest-rescoring" in methods:
        res = D.nbest_rescoring(
            ctx["HLG"],
            ctx["G4"],
            log_probs,
            frames,
            cfg,
            ctx["lm_scales"],
            args.num_paths,
            args.nbest_scale,
        )
        out.update({f"nbest-rescoring/{k}": as_words(v) for k, v in res.items()})
    if "whole-lattice-rescoring" in methods:
        res = D.whole_lattice_rescoring(
            ctx["HLG"], ctx["G4"], log_probs, frames, cfg, ctx["lm_scales"]
        )
        out.update({f"whole-lattice-rescoring/{k}": as_words(v) for k, v in res.items()})
    if args.hf_model:  # HF vocabularies may be upper case: score as the refs are spelt
        out = {k: [ctx["norm"](h) for h in hyps] for k, hyps in out.items()}
    return out


def build_context(args, methods, tokenizer) -> dict:
    """What decode_batch needs: the token decoder, search settings and the graphs the
    methods use (only those: a greedy run loads no graph). The rescoring G (``ctx["G4"]``)
    is the lang dir's ``rescore_G``, whatever its order."""
    import logging

    from xlsr.data.text_norm import TextNormalizer
    from xlsr.graph.lang_dir import LangDir

    lang = LangDir(args.lang_dir)
    ctx = {
        "args": args,
        "tokenizer": tokenizer,
        "search": SearchConfig(args.search_beam, args.output_beam, 30, args.max_active_states),
        "lm_scales": [float(s) for s in args.lm_scales],
        "norm": TextNormalizer.load(lang.path),
    }
    if any(m in HLG_METHODS for m in methods):
        from xlsr.graph.compile import load_fsa

        ctx["words"] = read_symbols(lang.words)
        ctx["HLG"] = load_fsa(lang.HLG)
    if any(m.endswith("rescoring") for m in methods):
        from xlsr.decode.ctc import prepare_rescoring_G
        from xlsr.graph.compile import load_fsa
        from xlsr.graph.lexicon import symbol_table

        first = symbol_table(lang.words)["#0"]
        path = lang.rescore_G
        logging.getLogger(__name__).info(
            "rescoring with %s (%d-gram; HLG from the %d-gram)",
            path,
            lang.rescore_order,
            lang.first_pass_order,
        )
        ctx["G4"] = prepare_rescoring_G(load_fsa(path), first)
    return ctx


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    methods = C.parse_methods(args.methods, TOKEN_METHODS + HLG_METHODS)
    C.check_common_args(args, model_from_exp=not args.hf_model)
    C.check_lang_files(args.lang_dir, lang_files(args, methods))
    C.start_logging(args)
    test_set = C.load_test_set(args)
    model, tokenizer, info = load_model(args)
    ctx = build_context(args, methods, tokenizer)
    C.decode_and_score(
        args, model, lambda out, frames: decode_batch(methods, out, frames, ctx), test_set, info
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
