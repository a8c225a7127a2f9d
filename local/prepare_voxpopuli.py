#!/usr/bin/env python3
"""Stage 1 of egs/voxpopuli/ASR: lhotse manifests of one VoxPopuli ASR language, and its
optional extra LM text.

Usage:
    local/prepare_voxpopuli.py --corpus-dir download/voxpopuli --lang de \
        --output-dir data/de/manifests [--lm-text lm_data/de/sentences.txt \
        --lm-text-dir data/de/lm_text] [--num-jobs 8] [--max-missing 0.05]

``<corpus-dir>`` is the ``--root`` of VoxPopuli's scripts; ``python -m
voxpopuli.get_asr_data --root <corpus-dir> --lang <lang>`` leaves in
``<corpus-dir>/transcribed_data/<lang>/``: ``asr_train.tsv``, ``asr_dev.tsv``, ``asr_test.tsv``
(a header line ``id raw_text normalized_text speaker_id split gender is_gold_transcript
accent``, then tab-separated, unquoted rows) and one segment per row,
``<year>/<id>.ogg`` (16 kHz mono Ogg Vorbis; ``<year>`` = the id's first four characters).

Writes ``voxpopuli_<lang>_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz``: one
recording per segment; one supervision over it with ``text`` = ``normalized_text`` through
the toolkit's text normaliser (default ``TextNormConfig``), ``speaker`` = ``speaker_id``,
``gender``, ``language`` = lang (``None`` in the TSV: no speaker / gender). The
``normalized_text`` column is VoxPopuli's ASR normalisation of the transcript (lower case),
the text its LM data is made from; ``raw_text``, the transcript as published with case and
punctuation, is not used. Rows whose text normalises to nothing are skipped and counted.
Rows whose ogg file is missing are skipped, counted and logged with an example path; more
than ``--max-missing`` (a fraction) of a split missing stops with an error naming the
directory: the segmentation did not run to the end.

``<lm-text-dir>/<lang>.txt`` (with ``--lm-text``): the file's lines (e.g. VoxPopuli's LM
corpus, ``lm_data/<lang>/sentences.txt`` of ``python -m voxpopuli.get_lm_data``) through the
same normaliser, deduplicated, without any sentence of train, dev or test (stage 2 adds the
training transcripts itself; no dev or test sentence may reach the LM).
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

from xlsr.data.recordings import read_header_tsv, write_lm_sentences, write_whole_recordings
from xlsr.data.text_norm import TextNormalizer

SPLITS = ("train", "dev", "test")
NEEDED = ("id", "normalized_text", "speaker_id", "gender")
FIX = "re-run `python -m voxpopuli.get_asr_data --root {root} --lang {lang}` to cut them"


def segment_path(lang_dir: Path, seg_id: str) -> Path:
    """``<lang_dir>/<year>/<id>.ogg``, the year being the id's first four characters."""
    return lang_dir / seg_id[:4] / f"{seg_id}.ogg"


def _field(value: Optional[str]) -> Optional[str]:
    return None if value in (None, "", "None") else value


def split_items(
    rows: List[Dict[str, str]], lang_dir: Path, split: str, lang: str, max_missing: float
) -> list:
    """``(recording id, ogg path, supervision fields)`` of the rows with text and audio.

    Raises:
        FileNotFoundError: naming ``lang_dir`` and the fix, when more than ``max_missing``
            of the rows have no ogg file.
    """
    normalize = TextNormalizer()
    items, no_text, missing = [], 0, []
    for row in rows:
        text = normalize(row["normalized_text"] or "")
        path = segment_path(lang_dir, row["id"])
        if not text:
            no_text += 1
        elif not path.is_file():
            missing.append(path)
        else:
            fields = {"text": text, "language": lang, "speaker": _field(row["speaker_id"])}
            items.append((row["id"], str(path), dict(fields, gender=_field(row["gender"]))))
    if missing:
        share = len(missing) / len(rows)
        what = (
            f"{lang_dir}: {len(missing)} of the {len(rows)} {split} segments ({share:.1%}) "
            f"have no ogg file, e.g. {missing[0]}"
        )
        fix = FIX.format(root=lang_dir.parent.parent, lang=lang)
        if share > max_missing:
            raise FileNotFoundError(
                f"{what}: more than --max-missing {max_missing}, the segmentation is "
                f"incomplete; {fix}"
            )
        logging.warning("%s; skipped (%s)", what, fix)
    logging.info("%s: %d segments (%d without text skipped)", split, len(items), no_text)
    return items


def write_lm_text(lm_text: Path, out: Path, exclude: Set[str]) -> None:
    """The normalised, deduplicated lines of ``lm_text`` not in ``exclude``, to ``out``."""
    normalize = TextNormalizer()
    with open(lm_text, encoding="utf-8") as f:
        kept, lines = write_lm_sentences(out, (normalize(line) for line in f), exclude)
    logging.info(
        "%s: %d of the %d lines of %s (split sentences removed)", out, kept, lines, lm_text
    )


def prepare_voxpopuli(
    corpus_dir: Path,
    lang: str,
    out_dir: Path,
    lm_text: Optional[Path] = None,
    lm_text_dir: Optional[Path] = None,
    num_jobs: int = 1,
    max_missing: float = 0.05,
) -> None:
    """Writes the train / dev / test manifests and the LM text (see the module docstring)."""
    lang_dir = corpus_dir / "transcribed_data" / lang
    split_rows = {split: read_header_tsv(lang_dir / f"asr_{split}.tsv", NEEDED) for split in SPLITS}
    # every split is checked (missing audio) before anything is written
    items = {s: split_items(rows, lang_dir, s, lang, max_missing) for s, rows in split_rows.items()}
    for split in SPLITS:
        write_whole_recordings(items[split], out_dir, f"voxpopuli_{lang}", split, num_jobs)
    if lm_text is not None:
        normalize = TextNormalizer()
        used = {normalize(r["normalized_text"] or "") for rows in split_rows.values() for r in rows}
        write_lm_text(lm_text, lm_text_dir / f"{lang}.txt", used)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="holds transcribed_data/")
    p.add_argument("--lang", required=True, help="the language's directory, e.g. de")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--lm-text", type=Path, help="extra LM sentences, one a line")
    p.add_argument("--lm-text-dir", type=Path, help="gets <lang>.txt (with --lm-text)")
    p.add_argument("--num-jobs", type=int, default=1)
    p.add_argument("--max-missing", type=float, default=0.05, help="of a split's segments")
    a = p.parse_args()
    if (a.lm_text is None) != (a.lm_text_dir is None):
        p.error("--lm-text and --lm-text-dir go together")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        prepare_voxpopuli(
            a.corpus_dir, a.lang, a.output_dir, a.lm_text, a.lm_text_dir, a.num_jobs, a.max_missing
        )
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"prepare_voxpopuli.py: {e}")


if __name__ == "__main__":
    main()
