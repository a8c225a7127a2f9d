"""Export a trained model as one self-contained directory (config, weights, lang dir, README).

Usage:
    python -m xlsr.bin.export --exp-dir exp/ctc --out models/numbers-ctc \\
        [--checkpoint last|averaged|PATH] [--lang-dir data/lang_char]

Writes OUT/config.yaml, OUT/model.pt (the weights only), OUT/lang/ (tokenizer, token and
word tables, text normaliser, graphs and G of the lang dir, where present), OUT/export.json
and OUT/README.md (how it was trained, the exp dir's decoding results). Decode it with
``python -m xlsr.bin.decode --model OUT --cuts ...`` or load it with
``xlsr.load_model("OUT")``. An OUT that holds an earlier export is replaced; any other
non-empty OUT is refused.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from xlsr.utils.argtypes import existing_dir


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", required=True, type=existing_dir, help="exp dir of xlsr.bin.train")
    p.add_argument("--out", required=True, help="the model dir to write")
    p.add_argument(
        "--checkpoint",
        default="last",
        help="last (the newest readable checkpoint) | averaged (averaged.pt, the running "
        "average) | a checkpoint file",
    )
    p.add_argument(
        "--lang-dir",
        type=existing_dir,
        default=None,
        help="the model's lang dir (default: the one config.yaml records)",
    )
    args = p.parse_args(argv)
    from xlsr.tasks.export import export_model
    from xlsr.utils.logging import setup_logging

    setup_logging()
    try:
        export_model(args.exp_dir, args.out, args.checkpoint, args.lang_dir)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"export: {e}") from e
    return 0


if __name__ == "__main__":
    sys.exit(main())
