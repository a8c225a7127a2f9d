"""Recordings of many audio files, their headers read in parallel: the stage-1 scan of a
corpus as users have it on disk (VoxLingua107, VoxCeleb1, Common Voice ...).

    for rec in scan_recordings([(recording_id, path), ...], num_jobs=4, desc="train"):
        writer.write(rec)          # lhotse Recording, in the order of the items
    write_whole_recordings([(recording_id, path, {"speaker": ...}), ...], out_dir, "vox", "train")
    rows = read_header_tsv("train.tsv", ("path", "sentence"))   # corpus TSVs by column name
    write_lm_sentences("lm_text/fr.txt", sentences, exclude=split_texts)  # extra LM text

Only each file's header is read (``lhotse.Recording.from_file``); ``num_jobs`` processes
share the work in chunks, and the results come back in the items' order, so manifests
written from them are the same whatever ``num_jobs`` is.
"""

from __future__ import annotations

import csv
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Sequence, Tuple, Union

from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

import xlsr.data.audio  # noqa: F401  (libsndfile reads .sph where sph2pipe is missing)
from xlsr.utils.io import atomic_output


def read_header_tsv(
    path: Union[str, Path], needed: Sequence[str], escaped: bool = False
) -> List[Dict[str, str]]:
    """The rows of a corpus TSV with a header line (Common Voice, VoxPopuli, CoVoST 2) as
    dicts keyed by its column names, so releases that add columns read the same. Fields are
    taken verbatim (no CSV quoting: a sentence may start with ``"``); ``escaped``: backslash
    escapes (CoVoST's TSVs, written with pandas' ``escapechar``).

    Raises:
        ValueError: naming the file, when it lacks a column of ``needed``.
    """
    csv.field_size_limit(sys.maxsize)
    extra = {"escapechar": "\\"} if escaped else {}
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE, **extra)
        missing = [c for c in needed if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: no column {', '.join(missing)} in its header line")
        return list(reader)


def write_lm_sentences(
    path: Union[str, Path], sentences: Iterable[str], exclude: Iterable[str]
) -> Tuple[int, int]:
    """A corpus' extra LM text: ``sentences`` (normalised already) in their order, without
    empty ones, repeats and any of ``exclude`` (the split transcripts: no dev or test
    sentence may reach the LM), one a line, written atomically.

    Returns:
        (kept, read): the sentences written and those read.
    """
    seen = set(exclude)
    kept = read = 0
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for text in sentences:
            read += 1
            if text and text not in seen:
                seen.add(text)
                f.write(text + "\n")
                kept += 1
    return kept, read


def _recording(item: Tuple[str, str]) -> Recording:
    recording_id, path = item
    return Recording.from_file(path, recording_id=recording_id)


def scan_recordings(
    items: Sequence[Tuple[str, str]], num_jobs: int = 1, desc: str = "scan"
) -> Iterator[Recording]:
    """One :class:`lhotse.Recording` per ``(recording id, audio path)``, in order, with a
    progress bar; ``num_jobs`` > 1 reads the headers in that many processes."""
    from tqdm import tqdm

    bar = dict(total=len(items), desc=desc, mininterval=5)
    if num_jobs <= 1:
        yield from tqdm(map(_recording, items), **bar)
        return
    with ProcessPoolExecutor(num_jobs) as ex:
        chunk = max(1, min(1000, len(items) // (4 * num_jobs)))
        yield from tqdm(ex.map(_recording, items, chunksize=chunk), **bar)


def write_whole_recordings(
    items: Sequence[Tuple[str, str, Mapping[str, Any]]],
    out_dir: Union[str, Path],
    prefix: str,
    split: str,
    num_jobs: int = 1,
) -> None:
    """``<prefix>_{recordings,supervisions,cuts}_<split>.jsonl.gz`` in ``out_dir``, written one
    item at a time: per ``(recording id, audio path, supervision fields)`` the recording
    (:func:`scan_recordings`), one supervision over all of it with those fields (``text``,
    ``language``, ``speaker``, ``gender`` ...) and its cut."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = {k: out_dir / f"{prefix}_{k}_{split}.jsonl.gz" for k in ("recordings", "supervisions")}
    with (
        RecordingSet.open_writer(name["recordings"]) as recs,
        SupervisionSet.open_writer(name["supervisions"]) as sups,
        CutSet.open_writer(out_dir / f"{prefix}_cuts_{split}.jsonl.gz") as cuts,
    ):
        paths = [(rec_id, path) for rec_id, path, _ in items]
        for (_, _, fields), rec in zip(items, scan_recordings(paths, num_jobs, split)):
            sup = SupervisionSegment(
                id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration, **fields
            )
            cut = rec.to_cut()
            cut.supervisions = [sup]
            recs.write(rec)
            sups.write(sup)
            cuts.write(cut)
