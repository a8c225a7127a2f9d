"""A fake VoxPopuli ASR language as VoxPopuli's own scripts leave it on disk, for recipe tests.

``python -m voxpopuli.download_audios --root ROOT --subset asr`` then
``python -m voxpopuli.get_asr_data --root ROOT --lang LANG`` (github.com/facebookresearch/
voxpopuli) write, per language::

    ROOT/transcribed_data/<lang>/asr_train.tsv, asr_dev.tsv, asr_test.tsv
    ROOT/transcribed_data/<lang>/<year>/<id>.ogg      16 kHz mono Ogg Vorbis, one per row

Each TSV has the header :data:`VOXPOPULI_COLUMNS` and tab-separated, unquoted fields; ``id``
is ``<session id>-<segment id>`` (e.g. ``20180206-0900-PLENARY-15-de_20180206-16:10:06_5``,
colons included), the file's stem, and its first four characters are the year directory.
``speaker_id`` and ``gender`` may be ``None``.

Example:
    >>> paths = write_voxpopuli(tmp_path / "voxpopuli", "de", 3, missing=1)
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import soundfile as sf

from xlsr.testing.corpus import tone

Pathlike = Union[str, Path]

#: The header of ``asr_<split>.tsv`` as ``voxpopuli.get_asr_data`` writes it.
VOXPOPULI_COLUMNS = [
    "id",
    "raw_text",
    "normalized_text",
    "speaker_id",
    "split",
    "gender",
    "is_gold_transcript",
    "accent",
]

_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
_NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def voxpopuli_segment_id(lang: str, year: int, session: int, segment: int) -> str:
    """A segment id as VoxPopuli spells it: ``<session id>-<lang>_<date>-<time>_<n>``."""
    date = f"{year}{1 + session % 12:02d}{1 + session % 28:02d}"
    return f"{date}-0900-PLENARY-{session}-{lang}_{date}-{9 + segment % 9:02d}:1{segment % 6}:0{segment % 10}_{segment}"


def write_voxpopuli(
    root: Pathlike,
    lang: str,
    n_per_split: int,
    n_train: Optional[int] = None,
    missing: int = 0,
    durations: Sequence[float] = (1.0, 1.5, 2.0),
    speakers: int = 3,
    sample_rate: int = 16000,
    seed: int = 0,
) -> List[Path]:
    """Write a fake VoxPopuli language: ``<root>/transcribed_data/<lang>/`` (see the module
    docstring).

    ``raw_text`` carries capitals, punctuation and digits; ``normalized_text`` is lower case,
    without punctuation, numbers spelt out (the real columns differ the same way). Segments
    come from sessions of two years (2019, 2020), two sessions a year; speaker ids are small
    integers as strings, cycled, and every fifth row has ``speaker_id`` and ``gender``
    ``None``, as some real rows do.

    Args:
        root: The ``--root`` of VoxPopuli's scripts (created if missing).
        lang: The language code, e.g. ``de``.
        n_per_split: Rows in dev and test (and in train unless ``n_train`` is given).
        n_train: Rows in train.
        missing: The last ``missing`` train rows get no ogg file (``get_asr_data`` can miss
            a few segments).
        durations: Seconds per segment, cycled.
        speakers: Distinct speaker ids, cycled.
        sample_rate: Rate of the ogg files (the real corpus: 16000).
        seed: Seed of the noise and part of the session numbers (another language: another
            seed).

    Returns:
        list of Path: The ogg files written (without the missing ones), train, dev, test.

    Raises:
        ValueError: if a split would have no row, ``missing`` is not below the train rows,
            ``speakers`` is below 1 or ``durations`` is empty.
    """
    n_train = n_per_split if n_train is None else n_train
    if min(n_per_split, n_train) < 1 or not 0 <= missing < n_train or speakers < 1 or not durations:
        raise ValueError(
            f"need n_per_split, n_train >= 1, 0 <= missing < n_train, speakers >= 1 and "
            f"durations, got {n_per_split}, {n_train}, {missing}, {speakers}, {list(durations)}"
        )
    lang_dir = Path(root) / "transcribed_data" / lang
    lang_dir.mkdir(parents=True, exist_ok=True)
    paths, i = [], 0
    for split, n in (("train", n_train), ("dev", n_per_split), ("test", n_per_split)):
        rows = []
        for k in range(n):
            year = 2019 + i % 2
            seg_id = voxpopuli_segment_id(lang, year, 10 * seed + i % 4, i)
            words = [_WORDS[(i + j) % len(_WORDS)] for j in range(1 + i % 3)]
            number = i % 9 + 1
            raw = f"{' '.join(words).capitalize()}, Nummer {number}."
            normalized = f"{' '.join(words)} nummer {_NUMBERS[number - 1]}"
            speaker, gender = str(100 + seed * 10 + i % speakers), ("male", "female")[i % 2]
            if i % 5 == 4:
                speaker, gender = "None", "None"
            values = [seg_id, raw, normalized, speaker, split, gender, "False", "None"]
            rows.append("\t".join(values))
            if not (split == "train" and k >= n - missing):
                path = lang_dir / str(year) / f"{seg_id}.ogg"
                path.parent.mkdir(exist_ok=True)
                audio = tone(
                    durations[i % len(durations)],
                    sample_rate,
                    180.0 + 30.0 * (i % 7),
                    seed * 1000 + i,
                )
                sf.write(str(path), audio, sample_rate, format="OGG", subtype="VORBIS")
                paths.append(path)
            i += 1
        text = "\t".join(VOXPOPULI_COLUMNS) + "\n" + "".join(r + "\n" for r in rows)
        (lang_dir / f"asr_{split}.tsv").write_text(text, encoding="utf-8")
    return paths
