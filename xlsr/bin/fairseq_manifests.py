"""fairseq wav2vec 2.0 manifests (.tsv/.wrd/.ltr/.label) to lhotse cuts and back.

Usage:
    python -m xlsr.bin.fairseq_manifests import --manifest-dir DIR --split train \\
        --output data/manifests/cuts_train.jsonl.gz [--label-field language] [--skip-bad true]
    python -m xlsr.bin.fairseq_manifests export --cuts data/manifests/cuts_train.jsonl.gz \\
        --output-dir DIR --split train [--root AUDIO_ROOT] [--label-field speaker]

The formats and options are documented in xlsr/data/fairseq_manifests.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from xlsr.data.fairseq_manifests import (
    FairseqExportConfig,
    FairseqImportConfig,
    export_fairseq,
    import_fairseq,
)
from xlsr.utils import config as C


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="fairseq manifest dir -> lhotse cuts")
    imp.add_argument("--manifest-dir", required=True, help="fairseq data dir (task.data)")
    imp.add_argument("--split", required=True, help="<split>.tsv to read")
    imp.add_argument("--output", required=True, help="cut manifest to write (.jsonl.gz)")
    C.add_dataclass_args(imp, FairseqImportConfig)
    exp = sub.add_parser("export", help="lhotse cuts -> fairseq manifest dir")
    exp.add_argument("--cuts", required=True, help="cut manifest (.jsonl.gz)")
    exp.add_argument("--output-dir", required=True, help="fairseq data dir to write")
    exp.add_argument("--split", required=True, help="file stem: <split>.tsv ...")
    exp.add_argument("--root", default=None, help="tsv root (default: common folder)")
    C.add_dataclass_args(exp, FairseqExportConfig)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    a = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if a.command == "import":
            cuts = import_fairseq(a.manifest_dir, a.split, C.from_args(FairseqImportConfig, a))
            Path(a.output).parent.mkdir(parents=True, exist_ok=True)
            cuts.to_file(a.output)
            print(f"{len(cuts)} cuts: {a.output}")
        else:
            from lhotse import load_manifest_lazy

            cfg = C.from_args(FairseqExportConfig, a)
            files = export_fairseq(load_manifest_lazy(a.cuts), a.output_dir, a.split, a.root, cfg)
            print("wrote " + " ".join(str(f) for f in files))
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
