"""The encoder demo (the README's main job until the numbers recipe lands).

Usage:
    python -m xlsr.bin.demo [--out-dir exp/demo] [--preset xlsr_tiny] [--seconds 3]

Builds an XLS-R-architecture encoder from a preset with random weights, writes it as our
format, a fairseq checkpoint and a Hugging Face directory, loads each back through
``xlsr.load_encoder``, encodes the same generated waveform with all three and checks that
they agree. Prints shapes, parameter count and speed; logs to OUT_DIR/log/demo.log.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from pathlib import Path
from typing import List, Optional

import torch

from xlsr.models import PRESETS, XLSREncoder, load_encoder, preset, save_encoder
from xlsr.testing.checkpoints import write_fairseq_checkpoint, write_hf_dir
from xlsr.utils.logging import setup_logging

logger = logging.getLogger(__name__)


def chirp(seconds: float, sample_rate: int = 16000) -> torch.Tensor:
    """A 200 Hz -> 2 kHz sweep with a little noise: (samples,)."""
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0, f1 = 200.0, 2000.0
    phase = 2 * math.pi * (f0 * t + (f1 - f0) / (2 * seconds) * t**2)
    return 0.5 * torch.sin(phase) + 0.01 * torch.randn_like(t)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=Path("exp/demo"))
    parser.add_argument("--preset", default="xlsr_tiny", choices=sorted(PRESETS))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup_logging(args.out_dir / "log" / "demo.log")
    torch.manual_seed(args.seed)

    enc = XLSREncoder(preset(args.preset)).eval()
    logger.info("built %s: %.2fM parameters", args.preset, enc.num_parameters() / 1e6)
    paths = {
        "ours": args.out_dir / "encoder.pt",
        "fairseq": args.out_dir / "fairseq" / "checkpoint.pt",
        "huggingface": args.out_dir / "hf",
    }
    save_encoder(enc, paths["ours"])
    write_fairseq_checkpoint(enc, paths["fairseq"])
    write_hf_dir(enc, paths["huggingface"])

    wav = chirp(args.seconds)[None]
    with torch.no_grad():
        ref, frames = enc(wav)
        for name, path in paths.items():
            loaded = load_encoder(path).eval()
            start = time.perf_counter()
            hidden, _ = loaded(wav)
            elapsed = time.perf_counter() - start
            err = ((hidden - ref).abs().max() / ref.abs().max()).item()
            logger.info(
                "%-11s %s -> hidden %s, %d frames, rel. diff %.1e, %.1fx real time",
                name,
                path,
                tuple(hidden.shape),
                int(frames[0]),
                err,
                args.seconds / elapsed,
            )
            if err > 1e-4:
                logger.error("%s disagrees with the original encoder (rel. diff %.2e)", name, err)
                return 1
    logger.info("all formats agree; outputs in %s", args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
