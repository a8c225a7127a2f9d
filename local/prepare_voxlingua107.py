#!/usr/bin/env python3
"""Stage 1 of egs/voxlingua107/LID: lhotse manifests and cuts of VoxLingua107.

Usage:
    local/prepare_voxlingua107.py --corpus-dir download/voxlingua107 \
        --dev-dir download/voxlingua107_dev --output-dir data/manifests \
        [--langs en,de,iw] [--dev-per-lang 20] [--num-jobs 8]

Both directories hold ``<lang>/<video id>---<start>-<end>.wav`` (16 kHz mono), one directory
per ISO code. Writes voxlingua107_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz:

- train: the training data less the held-out utterances;
- dev (validation): per language, whole videos of the training data (in an order fixed by
  the md5 of their ids) until at least ``--dev-per-lang`` utterances, leaving at least one
  video in train; segments of one video never straddle train and dev;
- test: the official dev set (the XLS-R paper's test set), restricted to ``--langs``.

Supervisions carry ``language`` = the directory's code and no ``speaker`` (unknown). Audio
headers are read in ``--num-jobs`` processes; the manifests are written one item at a time.
"""

import argparse
import hashlib
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from xlsr.data.recordings import write_whole_recordings

PREFIX = "voxlingua107"


def list_corpus(corpus_dir: Path, langs: Optional[Sequence[str]]) -> Dict[str, List[Path]]:
    """The wav files of each language directory (sorted), for ``langs`` or all found.

    Raises:
        ValueError: naming the directory, when a requested language has no directory or a
            directory has no ``*.wav``.
    """
    found = sorted(p.name for p in corpus_dir.iterdir() if p.is_dir())
    missing = [lang for lang in langs or () if lang not in found]
    if missing:
        raise ValueError(f"{corpus_dir}: no directory for --langs {','.join(missing)}")
    files = {lang: sorted((corpus_dir / lang).glob("*.wav")) for lang in langs or found}
    empty = [lang for lang, paths in files.items() if not paths]
    if empty:
        raise ValueError(f"{corpus_dir}: no <video id>---<start>-<end>.wav in {', '.join(empty)}")
    return files


def video_of(path: Path) -> str:
    """The video id of ``<video id>---<start>-<end>.wav`` (ids may contain '-' and '_')."""
    return path.stem.rsplit("---", 1)[0]


def hold_out(paths: List[Path], n: int) -> Tuple[List[Path], List[Path]]:
    """(train, dev): whole videos, in md5 order of their ids, into dev until >= n files.

    At least one video stays in train; n = 0 holds nothing out.
    """
    videos: Dict[str, List[Path]] = {}
    for p in paths:
        videos.setdefault(video_of(p), []).append(p)
    order = sorted(videos, key=lambda v: hashlib.md5(v.encode()).hexdigest())
    dev: List[Path] = []
    for v in order[:-1]:
        if len(dev) >= n:
            break
        dev += videos[v]
    held = set(dev)
    return [p for p in paths if p not in held], dev


def write_split(items: List[Tuple[str, str]], out_dir: Path, split: str, num_jobs: int) -> None:
    """Recordings, supervisions and cuts of ``items`` (language, path), written lazily."""
    fields = [(f"{lang}-{Path(path).stem}", path, {"language": lang}) for lang, path in items]
    write_whole_recordings(fields, out_dir, PREFIX, split, num_jobs)
    logging.info("%s: %d utterances", split, len(items))


def prepare_voxlingua107(
    corpus_dir: Path,
    dev_dir: Path,
    out_dir: Path,
    langs: Optional[Sequence[str]] = None,
    dev_per_lang: int = 20,
    num_jobs: int = 1,
) -> None:
    """Writes the train / dev / test manifests (see the module docstring) into ``out_dir``."""
    train = list_corpus(corpus_dir, langs)
    test_langs = sorted(p.name for p in dev_dir.iterdir() if p.is_dir() and p.name in train)
    if not test_langs:
        raise ValueError(f"{dev_dir}: none of the training languages has a directory")
    test = list_corpus(dev_dir, test_langs)
    splits: Dict[str, List[Tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    for lang, paths in train.items():
        tr, dv = hold_out(paths, dev_per_lang)
        splits["train"] += [(lang, str(p)) for p in tr]
        splits["dev"] += [(lang, str(p)) for p in dv]
    splits["test"] = [(lang, str(p)) for lang, paths in test.items() for p in paths]
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, items in splits.items():
        write_split(items, out_dir, split, num_jobs)
    logging.info("%d languages in train, %d in test", len(train), len(test))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="the training data")
    p.add_argument("--dev-dir", required=True, type=Path, help="the official dev set (our test)")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--langs", default="", help="comma-separated codes (default: all found)")
    p.add_argument("--dev-per-lang", type=int, default=20, help="held-out training utterances")
    p.add_argument("--num-jobs", type=int, default=1)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    langs = [x for x in a.langs.split(",") if x] or None
    prepare_voxlingua107(a.corpus_dir, a.dev_dir, a.output_dir, langs, a.dev_per_lang, a.num_jobs)


if __name__ == "__main__":
    main()
