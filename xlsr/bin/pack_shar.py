"""Pack a cuts manifest and its audio into lhotse Shar shards (xlsr.data.shar), for
sequential reading on shared file systems; ``xlsr.bin.train --train-cuts`` takes the result.

Usage:
    python -m xlsr.bin.pack_shar CUTS OUT_DIR [--shard-size 1000] [--num-jobs 4]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import List, Optional

from xlsr.utils.argtypes import existing_file


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cuts", type=existing_file, help="lhotse cuts manifest (.jsonl.gz)")
    p.add_argument("out_dir", help="directory of the shards (must not hold shards)")
    p.add_argument("--shard-size", type=int, default=1000, help="cuts per shard")
    p.add_argument("--num-jobs", type=int, default=1, help="shards written in parallel")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from xlsr.data.shar import pack_shar

    try:
        pack_shar(a.cuts, Path(a.out_dir), a.shard_size, a.num_jobs)
    except (ValueError, FileExistsError) as e:
        raise SystemExit(f"pack_shar: {e}") from e
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
