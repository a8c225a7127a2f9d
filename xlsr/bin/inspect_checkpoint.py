"""Inspect an XLS-R / wav2vec 2.0 checkpoint without loading fairseq or transformers.

Usage:
    python -m xlsr.bin.inspect_checkpoint PATH [--keys] [--json]
    xlsr-inspect xlsr2_300m.pt
    xlsr-inspect /path/to/hf-model-dir --keys

Prints the format, architecture, parameter count, the encoder config read from the
checkpoint, and how many keys were used and ignored (with --keys: every key and what it
became).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import List, Optional

from xlsr.models.fairseq_hf import CheckpointError, load_encoder


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="fairseq .pt file, HF model directory or our .pt file")
    parser.add_argument("--keys", action="store_true", help="list every key and its mapping")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        enc = load_encoder(args.path)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    report = enc.load_report
    info = {
        "path": report.path,
        "format": report.format,
        "architecture": report.architecture,
        "parameters": enc.num_parameters(),
        "config": report.config.to_dict(),
        "keys_used": len(report.used),
        "keys_ignored": report.ignored,
        "not_in_checkpoint": report.not_in_checkpoint,
    }
    if args.keys:
        info["key_map"] = report.used
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    cfg = report.config
    print(f"{report.path}")
    print(f"  format        {report.format} ({report.architecture})")
    print(f"  parameters    {info['parameters']:,} ({info['parameters'] / 1e6:.1f}M)")
    print(
        f"  transformer   {cfg.num_layers} layers x {cfg.embed_dim}, FFN {cfg.ffn_dim}, "
        f"{cfg.num_heads} heads, {'pre' if cfg.layer_norm_first else 'post'}-LayerNorm"
    )
    print(
        f"  extractor     {len(cfg.conv_layers)} convs ({cfg.extractor_mode}, "
        f"bias={cfg.conv_bias}), {cfg.feature_dim} channels, receptive field "
        f"{cfg.receptive_field} samples"
    )
    print(f"  normalise     {cfg.normalize_waveform} (done inside the encoder)")
    print(
        f"  fine-tuning   mask_prob={cfg.mask_prob} mask_channel_prob={cfg.mask_channel_prob} "
        f"layerdrop={cfg.layerdrop} feature_grad_mult={cfg.feature_grad_mult}"
    )
    print(f"  keys          {len(report.used)} used, {len(report.ignored)} ignored")
    if report.ignored:
        print(f"  ignored       {', '.join(report.ignored)}")
    if report.not_in_checkpoint:
        print(f"  initialised   {', '.join(report.not_in_checkpoint)} (not in the checkpoint)")
    if args.keys:
        for src, dst in report.used.items():
            print(f"    {src} -> {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
