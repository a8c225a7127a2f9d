"""Decode a CTC model (ours, or a Hugging Face Wav2Vec2ForCTC) and score it.

Usage:
    python -m xlsr.bin.decode_ctc --hf-model wav2vec2-xls-r-ctc-dir --exp-dir exp/hf ...
    python -m xlsr.bin.decode_ctc --exp-dir exp/ctc --lang-dir data/lang_bpe_500 \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--test-set test] \\
        [--checkpoint averaged|last|PATH] [--epoch 10 --avg 3] \\
        [--methods ctc-greedy-search,ctc-decoding,1best,nbest,nbest-rescoring,whole-lattice-rescoring] \\
        [--lm-scales 0.1,0.3,0.5,0.7,1.0] [--num-paths 100] [--nbest-scale 0.5] \\
        [--search-beam 20] [--output-beam 8] [--max-active-states 10000]

Writes, per method (and LM scale), EXP_DIR/decode/<method>/hyps-<test_set>.jsonl,
score-<test_set>.json and errs-<test_set>.txt, and EXP_DIR/decode/summary-<test_set>.txt
(WER of every method, best first). WER per language as well as overall.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

import torch
from tqdm import tqdm

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.data.tokenizer import Tokenizer, read_symbols
from xlsr.decode.graph_search import SearchConfig
from xlsr.models import XLSREncoder
from xlsr.models.config import EncoderConfig
from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.train import checkpoint as ckpt
from xlsr.utils.logging import setup_logging

logger = logging.getLogger("xlsr.decode_ctc")
TOKEN_METHODS = ("ctc-greedy-search", "ctc-decoding")
HLG_METHODS = ("1best", "nbest", "nbest-rescoring", "whole-lattice-rescoring")


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--cuts", required=True)
    p.add_argument("--test-set", default=None, help="name in output files (default: from --cuts)")
    p.add_argument("--hf-model", default=None,
                   help="decode a Hugging Face Wav2Vec2ForCTC directory instead of EXP_DIR's "
                   "checkpoints (lang dir from local/prepare_lang_hf.py)")  # fmt: skip
    p.add_argument(
        "--checkpoint", default="last", help="last | averaged (running average) | a file"
    )
    p.add_argument("--epoch", type=int, default=0, help="with --avg: average epochs")
    p.add_argument("--avg", type=int, default=1)
    p.add_argument("--methods", default="ctc-greedy-search,1best")
    p.add_argument("--lm-scales", default="0.1,0.3,0.5,0.7,1.0")
    p.add_argument("--num-paths", type=int, default=100)
    p.add_argument("--nbest-scale", type=float, default=0.5)
    p.add_argument("--search-beam", type=float, default=20.0)
    p.add_argument("--output-beam", type=float, default=8.0)
    p.add_argument("--max-active-states", type=int, default=10000)
    p.add_argument("--max-duration", type=float, default=100.0)
    p.add_argument("--cer", action="store_true", help="also score characters (CER)")
    return p.parse_args(argv)


def model_weights(args) -> Dict:
    exp = Path(args.exp_dir)
    if args.epoch > 0:
        paths = [exp / f"epoch-{e}.pt" for e in range(args.epoch - args.avg + 1, args.epoch + 1)]
        return {"model": ckpt.average_checkpoints(paths), "config": ckpt.load_checkpoint(paths[-1])["config"]}  # fmt: skip
    if args.checkpoint == "averaged" and (exp / "averaged.pt").exists():
        return ckpt.load_checkpoint(exp / "averaged.pt")
    if args.checkpoint in ("averaged", "last"):
        latest = ckpt.latest_checkpoint(exp)
        if latest is None:
            raise FileNotFoundError(f"{exp}: no checkpoint to decode")
        return ckpt.load_checkpoint(latest)
    return ckpt.load_checkpoint(args.checkpoint)


def load_model(args) -> CtcModel:
    state = model_weights(args)
    run = state["config"]
    enc_cfg = EncoderConfig.from_dict(run["encoder"])
    ctc = dict(run["ctc"])
    model = CtcModel(XLSREncoder(enc_cfg), CtcConfig(**ctc))
    model.load_state_dict(state["model"])
    return model.eval()


@torch.no_grad()
def run_model(model, cuts_path, max_duration: float):
    """Yields (cut ids, supervisions, log_probs (B, T, V), frames (B,)) per batch."""
    from lhotse import load_manifest_lazy

    cfg = DataConfig(
        max_duration=max_duration, min_cut_duration=0.01, max_cut_duration=max_duration
    )
    loader, _ = make_dataloader(load_manifest_lazy(cuts_path), cfg, train=False, require_text=False)  # fmt: skip
    for batch in tqdm(loader, desc="decode", leave=False):
        if batch["waveforms"].shape[0] == 0:
            continue
        log_probs, frames = model(batch["waveforms"], batch["lengths"])
        yield batch["cut_ids"], batch["supervisions"], log_probs, frames


def decode_batch(methods, log_probs, frames, ctx) -> Dict[str, List[str]]:
    """{method name: hypothesis text per utterance} for one batch."""
    from xlsr.decode import ctc as D

    tok, words, cfg, args = ctx["tokenizer"], ctx["words"], ctx["search"], ctx["args"]
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
        res = D.nbest_rescoring(ctx["HLG"], ctx["G4"], log_probs, frames, cfg, ctx["lm_scales"],
                                args.num_paths, args.nbest_scale)  # fmt: skip
        out.update({f"nbest-rescoring/{k}": as_words(v) for k, v in res.items()})
    if "whole-lattice-rescoring" in methods:
        res = D.whole_lattice_rescoring(ctx["HLG"], ctx["G4"], log_probs, frames, cfg, ctx["lm_scales"])  # fmt: skip
        out.update({f"whole-lattice-rescoring/{k}": as_words(v) for k, v in res.items()})
    return out


def build_context(args, methods) -> dict:
    lang = Path(args.lang_dir)
    ctx = {
        "args": args,
        "tokenizer": None if args.hf_model else Tokenizer(lang / "tokenizer"),
        "words": read_symbols(lang / "words.txt"),
        "search": SearchConfig(args.search_beam, args.output_beam, 30, args.max_active_states),
        "lm_scales": [float(s) for s in args.lm_scales.split(",")],
    }
    if any(m in HLG_METHODS for m in methods):
        from xlsr.graph.compile import load_fsa

        ctx["HLG"] = load_fsa(lang / "HLG.pt")
    if any(m.endswith("rescoring") for m in methods):
        from xlsr.decode.ctc import prepare_rescoring_G
        from xlsr.graph.compile import load_fsa
        from xlsr.graph.lexicon import symbol_table

        first = symbol_table(lang / "words.txt")["#0"]
        ctx["G4"] = prepare_rescoring_G(load_fsa(lang / "G_4_gram.pt"), first)
    return ctx


def main(argv: Optional[List[str]] = None) -> int:
    from xlsr.scoring.results import write_results, write_summary

    args = parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(TOKEN_METHODS + HLG_METHODS))
    if unknown:
        raise SystemExit(f"unknown decoding methods {unknown}; choose from {TOKEN_METHODS + HLG_METHODS}")  # fmt: skip
    test_set = args.test_set or Path(args.cuts).name.split(".")[0].replace("_cuts", "")
    out_dir = Path(args.exp_dir) / "decode"
    setup_logging(out_dir / "log" / f"decode-{test_set}.log")
    ctx = build_context(args, methods)
    if args.hf_model:
        from xlsr.models.hf_ctc import load_hf_ctc

        model, ctx["tokenizer"] = load_hf_ctc(args.hf_model)
    else:
        model = load_model(args)
    items: Dict[str, List[dict]] = {}
    for ids, sups, log_probs, frames in run_model(model, args.cuts, args.max_duration):
        for name, hyps in decode_batch(methods, log_probs, frames, ctx).items():
            for i, cut_id in enumerate(ids):
                items.setdefault(name, []).append({
                    "id": cut_id, "ref": sups["texts"][i], "hyp": hyps[i],
                    "lang": sups["languages"][i], "duration": float(sups["durations"][i]),
                })  # fmt: skip
    rows = []
    for name, its in items.items():
        score = write_results(out_dir / name, test_set, its, cer=args.cer)
        rows.append({"method": name, "wer": score["wer"]})
        logger.info("%s %s: WER %.2f%%", test_set, name, score["wer"])
    best = write_summary(out_dir / f"summary-{test_set}.txt", rows)
    logger.info("best for %s: %s (WER %.2f%%)", test_set, best["method"], best["wer"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
