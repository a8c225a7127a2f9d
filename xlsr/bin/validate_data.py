"""Check manifests before a long training: readable audio, durations, sample rates, text.

Usage:
    python -m xlsr.bin.validate_data CUTS [CUTS ...] [--lang-dir DIR] [--tolerance 0.05]
        [--json OUT] [--ctc true|false] [--require-text true|false] [--sample-rate 16000]

Prints a table per manifest (reason | kind | count | first examples with cut ids and files).
Exit status 1 when any cut would be dropped (notes such as ``resampled`` do not count),
0 otherwise. With --lang-dir, also unknown symbols (after the lang dir's text normaliser)
and, unless --ctc false, CTC feasibility (transducers do not need it). See xlsr/data/validate.py for the reasons.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

from xlsr.data.validate import ValidateConfig, validate_manifest
from xlsr.utils import config as C


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("cuts", nargs="+", help="lhotse cut manifests (.jsonl.gz)")
    p.add_argument("--lang-dir", default=None, help="lang dir for the text checks")
    C.add_dataclass_args(p, ValidateConfig)
    p.add_argument("--json", default=None, help="write the reports to this JSON file")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    from lhotse import load_manifest_lazy

    cfg = C.from_args(ValidateConfig, a)
    missing = [f for f in a.cuts if not Path(f).is_file()]
    if a.lang_dir and not (Path(a.lang_dir) / "tokenizer" / "tokenizer.json").is_file():
        missing.append(f"{a.lang_dir}/tokenizer/tokenizer.json (--lang-dir)")
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    reports = []
    for path in a.cuts:
        reports.append(validate_manifest(load_manifest_lazy(path), a.lang_dir, cfg, name=path))
        print(reports[-1].table())
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps([r.to_dict() for r in reports], indent=2) + "\n")
        print(f"report: {a.json}")
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
