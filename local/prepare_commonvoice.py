#!/usr/bin/env python3
"""Stage 1 of egs/commonvoice/ASR: lhotse manifests of one Common Voice language, and its
extra LM text.

Usage:
    local/prepare_commonvoice.py --corpus-dir download/commonvoice --lang fr \
        --output-dir data/fr/manifests --lm-text-dir data/fr/lm_text [--num-jobs 8]

``<corpus-dir>/<lang>/`` holds ``clips/*.mp3`` (48 kHz) and ``train.tsv``, ``dev.tsv``,
``test.tsv``, ``validated.tsv``: a header line, then tab-separated rows. Columns are read by
their header names (``path``, ``sentence``, ``client_id``, ``gender``), so releases with more
columns (``variant``, ``sentence_id``...) read the same. Fields are never quoted: a sentence
may start with ``"``.

Writes ``commonvoice_<lang>_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz``:
recordings of the mp3 files at their own rate (the data loader resamples to 16 kHz with
``xlsr.data.audio.resample_waveform``); one supervision per clip with ``text`` = the sentence
through the toolkit's text normaliser (default ``TextNormConfig``), ``speaker`` = client_id,
``language`` = lang, ``gender`` when given. Rows whose sentence normalises to nothing are
skipped (counted in the log).

``<lm-text-dir>/<lang>.txt``: the validated sentences in none of train, dev and test
(normalised, deduplicated): in-domain text for the n-gram LM beyond the training
transcripts, which stage 2 adds itself; no dev or test sentence is in it.
"""

import argparse
import csv
import logging
import sys
from pathlib import Path
from typing import Dict, List

from xlsr.data.recordings import write_whole_recordings
from xlsr.data.text_norm import TextNormalizer
from xlsr.utils.io import atomic_write_text

SPLITS = ("train", "dev", "test")
NEEDED = ("client_id", "path", "sentence")


def read_tsv(path: Path) -> List[Dict[str, str]]:
    """The rows of a Common Voice TSV as dicts keyed by the header's column names.

    Raises:
        ValueError: naming the file, when it lacks a column of ``NEEDED``.
    """
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        missing = [c for c in NEEDED if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)} in its header line")
        return list(reader)


def write_split(
    rows: List[Dict[str, str]],
    clips: Path,
    out_dir: Path,
    prefix: str,
    split: str,
    lang: str,
    num_jobs: int,
) -> None:
    """Recordings, supervisions and cuts of one split's rows, written one item at a time."""
    normalize = TextNormalizer()
    kept = [(r, normalize(r["sentence"] or "")) for r in rows]
    kept = [(r, text) for r, text in kept if text]
    items = [
        (
            Path(row["path"]).stem,
            str(clips / row["path"]),
            {
                "text": text,
                "language": lang,
                "speaker": row["client_id"],
                "gender": row.get("gender") or None,
            },
        )
        for row, text in kept
    ]
    write_whole_recordings(items, out_dir, prefix, split, num_jobs)
    logging.info("%s: %d clips (%d without text skipped)", split, len(kept), len(rows) - len(kept))


def prepare_commonvoice(
    corpus_dir: Path, lang: str, out_dir: Path, lm_text_dir: Path, num_jobs: int = 1
) -> None:
    """Writes the train / dev / test manifests and the LM text (see the module docstring)."""
    lang_dir = corpus_dir / lang
    split_rows = {split: read_tsv(lang_dir / f"{split}.tsv") for split in SPLITS}
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"commonvoice_{lang}"
    for split, rows in split_rows.items():
        write_split(rows, lang_dir / "clips", out_dir, prefix, split, lang, num_jobs)
    normalize = TextNormalizer()
    used = {normalize(r["sentence"] or "") for rows in split_rows.values() for r in rows}
    extra, seen = [], set(used)
    validated = lang_dir / "validated.tsv"
    for row in read_tsv(validated) if validated.exists() else []:
        text = normalize(row["sentence"] or "")
        if text and text not in seen:
            seen.add(text)
            extra.append(text)
    atomic_write_text(lm_text_dir / f"{lang}.txt", "".join(t + "\n" for t in extra))
    logging.info("%s: %d validated sentences in no split", lm_text_dir / f"{lang}.txt", len(extra))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="holds <lang>/clips, *.tsv")
    p.add_argument("--lang", required=True, help="the language's directory, e.g. fr")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--lm-text-dir", required=True, type=Path, help="gets <lang>.txt")
    p.add_argument("--num-jobs", type=int, default=1)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_commonvoice(a.corpus_dir, a.lang, a.output_dir, a.lm_text_dir, a.num_jobs)


if __name__ == "__main__":
    main()
