"""Fake copies of real corpora on disk, in the real layout, for recipe tests.

The audio is a tone plus noise (:func:`xlsr.testing.corpus.tone`), so a recipe's data stages
see the real directory and file-name patterns without any download.

Example:
    >>> paths = write_voxlingua107(tmp_path / "voxlingua107", ["en", "iw", "jw"], 4)
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence, Union

import soundfile as sf

from xlsr.testing.corpus import tone

Pathlike = Union[str, Path]


def voxlingua107_name(video_id: str, start: float, end: float) -> str:
    """A VoxLingua107 file name: ``<video id>---<start>-<end>.wav`` (seconds, 2 decimals)."""
    return f"{video_id}---{start:.2f}-{end:.2f}.wav"


def write_voxlingua107(
    root: Pathlike,
    langs: Sequence[str],
    n_per_lang: int,
    durations: Sequence[float] = (1.5, 3.0, 6.0),
    per_video: int = 2,
    sample_rate: int = 16000,
    seed: int = 0,
) -> List[Path]:
    """Write a fake VoxLingua107 split: ``<root>/<lang>/<video id>---<start>-<end>.wav``.

    The real corpus has one directory per ISO code (``en``, ``iw``, ``ceb``...) holding
    16 kHz mono segments of YouTube videos; several segments come from one video. Here a
    language's tone pitch differs from the others' (a tiny model can tell them apart) and
    video ids are 11 characters like YouTube's, distinct across languages and ``seed``s.

    Args:
        root: The split's directory (created if missing), e.g. ``.../voxlingua107`` or
            ``.../voxlingua107_dev``.
        langs: Language codes, one directory each.
        n_per_lang: Utterances per language.
        durations: Seconds per utterance, cycled (both of fairseq's report buckets, <= 5 s
            and longer, are present with the default).
        per_video: Consecutive segments taken from one fake video.
        sample_rate: Sampling rate of the files (the real corpus: 16000).
        seed: Seed of the noise and part of the video ids (another split: another seed).

    Returns:
        list of Path: The files written, language by language.

    Raises:
        ValueError: if ``n_per_lang`` or ``per_video`` is below 1, or ``durations`` is empty.
    """
    if n_per_lang < 1 or per_video < 1 or not durations:
        raise ValueError(
            f"need n_per_lang >= 1, per_video >= 1 and durations, got {n_per_lang}, "
            f"{per_video}, {list(durations)}"
        )
    root, paths = Path(root), []
    for li, lang in enumerate(langs):
        (root / lang).mkdir(parents=True, exist_ok=True)
        start = 0.0
        for i in range(n_per_lang):
            video = f"{lang[:3]}{seed:02d}v{i // per_video:05d}".ljust(11, "x")[:11]
            if i % per_video == 0:
                start = 12.0
            dur = durations[i % len(durations)]
            path = root / lang / voxlingua107_name(video, start, start + dur)
            audio = tone(dur, sample_rate, 150.0 + 120.0 * li, seed * 1000 + li * 100 + i)
            sf.write(str(path), audio, sample_rate, subtype="PCM_16")
            paths.append(path)
            start += dur + 0.5
    return paths
