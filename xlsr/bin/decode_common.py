"""What every decoding entry point shares: the options that pick the model and the data,
the model weights (last / running average / epoch average / a file), batched encoder runs
with a progress bar, and the result files (contract 3) with a summary over methods."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import torch
from tqdm import tqdm

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.train import checkpoint as ckpt
from xlsr.utils.logging import setup_logging

logger = logging.getLogger("xlsr.decode")


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--cuts", required=True)
    p.add_argument("--test-set", default=None, help="name in output files (default: from --cuts)")
    p.add_argument(
        "--checkpoint", default="last", help="last | averaged (running average) | a file"
    )
    p.add_argument(
        "--epoch",
        type=int,
        default=0,
        help="decode epoch-N.pt (with --avg K: the mean of epochs N-K+1..N)",
    )
    p.add_argument(
        "--iter",
        type=int,
        default=0,
        help="decode checkpoint-N.pt (with --avg K: the mean of it and the K-1 "
        "checkpoint-*.pt before it)",
    )
    p.add_argument("--avg", type=int, default=1)
    p.add_argument("--use-averaged-model", action="store_true",
                   help="with --epoch/--iter and --avg K: the mean of every weight sample the "
                   "trainer took between the K-th earlier checkpoint and this one (icefall)")  # fmt: skip
    p.add_argument("--max-duration", type=float, default=100.0)
    p.add_argument("--cer", action="store_true", help="also score characters (CER)")


def parse_methods(spec: str, known) -> List[str]:
    methods = [m.strip() for m in spec.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(known))
    if unknown:
        raise SystemExit(f"unknown decoding methods {unknown}; choose from {tuple(known)}")
    return methods


def _chosen(exp: Path, args) -> List[Path]:
    """The --epoch/--iter checkpoint and the --avg earlier ones of its kind, oldest first
    (for --use-averaged-model one more: the start of the interval, where one exists)."""
    kind, n = ("epoch", args.epoch) if args.epoch > 0 else ("checkpoint", args.iter)
    found = ckpt.list_checkpoints(exp, kind)  # sorted by their number
    names = [p.name for p in found]
    if f"{kind}-{n}.pt" not in names:
        raise FileNotFoundError(f"{exp}: no {kind}-{n}.pt")
    found = found[: names.index(f"{kind}-{n}.pt") + 1]
    want = args.avg + 1 if args.use_averaged_model else args.avg
    if len(found) < args.avg:
        raise FileNotFoundError(f"{exp}: --avg {args.avg} needs {args.avg} {kind}-*.pt up to "
                                f"{kind}-{n}.pt, found {[p.name for p in found]}")  # fmt: skip
    return found[-want:]


def model_weights(args) -> Dict:
    """The checkpoint dict (``model``, ``config``) that ``--checkpoint``, ``--epoch`` /
    ``--iter``, ``--avg`` and ``--use-averaged-model`` pick."""
    exp = Path(args.exp_dir)
    if args.epoch > 0 or args.iter > 0:
        paths = _chosen(exp, args)
        end = ckpt.load_checkpoint(paths[-1])
        if args.use_averaged_model:
            start = ckpt.load_checkpoint(paths[0]) if len(paths) > args.avg else None
            logger.info("averaged model between %s and %s", paths[0] if start else "the start", paths[-1])  # fmt: skip
            return {"model": ckpt.average_between(start, end), "config": end["config"]}
        return {"model": ckpt.average_checkpoints(paths), "config": end["config"]}
    if args.checkpoint == "averaged" and (exp / "averaged.pt").exists():
        return ckpt.load_checkpoint(exp / "averaged.pt")
    if args.checkpoint in ("averaged", "last"):
        latest = ckpt.latest_checkpoint(exp)
        if latest is None:
            raise FileNotFoundError(f"{exp}: no checkpoint to decode")
        return ckpt.load_checkpoint(latest)
    return ckpt.load_checkpoint(args.checkpoint)


def load_head_model(args, head: str, model_cls, config_cls):
    """The ``head`` model (``model_cls(encoder, config_cls(...))``) that ``model_weights``
    picks, in eval mode; a checkpoint of another head is refused with a clear message."""
    from xlsr.models import XLSREncoder
    from xlsr.models.config import EncoderConfig

    state = model_weights(args)
    run = state["config"]
    if head not in run:
        other = run.get("head", "ctc")  # checkpoints from before the transducer were CTC
        raise SystemExit(f"{args.exp_dir}: not a {head} model (head {other!r}); decode it "
                         f"with xlsr.bin.decode_{other}")  # fmt: skip
    encoder = XLSREncoder(EncoderConfig.from_dict(run["encoder"]))
    model = model_cls(encoder, config_cls(**dict(run[head])))
    model.load_state_dict(state["model"])
    return model.eval()


@torch.no_grad()
def run_model(model, cuts_path, max_duration: float) -> Iterator:
    """Yields (cut ids, supervisions, output (B, T, D), frames (B,)) per batch."""
    from lhotse import load_manifest_lazy

    cfg = DataConfig(
        max_duration=max_duration, min_cut_duration=0.01, max_cut_duration=max_duration
    )
    loader, _ = make_dataloader(load_manifest_lazy(cuts_path), cfg, train=False, require_text=False)  # fmt: skip
    for batch in tqdm(loader, desc="decode", leave=False):
        if batch["waveforms"].shape[0] == 0:
            continue
        out, frames = model(batch["waveforms"], batch["lengths"])
        yield batch["cut_ids"], batch["supervisions"], out, frames


def decode_and_score(args, model, decode_batch: Callable) -> Dict[str, dict]:
    """Decodes ``args.cuts`` with ``decode_batch(output, frames) -> {method: [hyp text]}``
    and writes, per method, EXP_DIR/decode/<method>/{hyps,score,errs}-<test_set>.* and
    EXP_DIR/decode/summary-<test_set>.txt. Returns the scores by method."""
    from xlsr.scoring.results import write_results, write_summary

    test_set = args.test_set or Path(args.cuts).name.split(".")[0].replace("_cuts", "")
    out_dir = Path(args.exp_dir) / "decode"
    setup_logging(out_dir / "log" / f"decode-{test_set}.log")
    items: Dict[str, List[dict]] = {}
    for ids, sups, out, frames in run_model(model, args.cuts, args.max_duration):
        for name, hyps in decode_batch(out, frames).items():
            for i, cut_id in enumerate(ids):
                items.setdefault(name, []).append({
                    "id": cut_id, "ref": sups["texts"][i], "hyp": hyps[i],
                    "lang": sups["languages"][i], "duration": float(sups["durations"][i]),
                })  # fmt: skip
    scores, rows = {}, []
    for name, its in items.items():
        scores[name] = write_results(out_dir / name, test_set, its, cer=args.cer)
        rows.append({"method": name, "wer": scores[name]["wer"]})
        logger.info("%s %s: WER %.2f%%", test_set, name, scores[name]["wer"])
    best = write_summary(out_dir / f"summary-{test_set}.txt", rows)
    logger.info("best for %s: %s (WER %.2f%%)", test_set, best["method"], best["wer"])
    return scores
