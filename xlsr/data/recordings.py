"""Recordings of many audio files, their headers read in parallel: the stage-1 scan of a
corpus as users have it on disk (VoxLingua107, VoxCeleb1, Common Voice ...).

    for rec in scan_recordings([(recording_id, path), ...], num_jobs=4, desc="train"):
        writer.write(rec)          # lhotse Recording, in the order of the items

Only each file's header is read (``lhotse.Recording.from_file``); ``num_jobs`` processes
share the work in chunks, and the results come back in the items' order, so manifests
written from them are the same whatever ``num_jobs`` is.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from typing import Iterator, Sequence, Tuple

from lhotse import Recording


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
