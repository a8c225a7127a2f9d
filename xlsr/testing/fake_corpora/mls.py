"""A fake Multilingual LibriSpeech (MLS) language as its OpenSLR 94 archive unpacks, for
recipe tests.

``mls_<lang>.tar.gz`` (flac) or ``mls_<lang>_opus.tar.gz`` (opus) unpack to::

    mls_<lang>[_opus]/metainfo.txt                      SPEAKER | GENDER | PARTITION | ...
    mls_<lang>[_opus]/{train,dev,test}/transcripts.txt  <spk>_<book>_<utt> TAB <text>
    mls_<lang>[_opus]/{train,dev,test}/segments.txt     <id> TAB <LibriVox mp3 URL> TAB start TAB end
    mls_<lang>[_opus]/{train,dev,test}/audio/<spk>/<book>/<spk>_<book>_<utt>.flac (or .opus)
    mls_<lang>[_opus]/train/limited_supervision/1hr/{0..5}/handles.txt   one id a line
    mls_<lang>[_opus]/train/limited_supervision/9hr/handles.txt

The text is lower case without punctuation but apostrophes and hyphens inside words; the
audio is 16 kHz mono. Dev and test speakers are not training speakers.

Example:
    >>> paths = write_mls(tmp_path / "mls", "german", 4, extra_train=2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Union

import soundfile as sf

from xlsr.testing.corpus import tone

Pathlike = Union[str, Path]

#: The audio formats of the two releases: file suffix and soundfile's (format, subtype).
MLS_AUDIO = {"flac": ("FLAC", "PCM_16"), "opus": ("OGG", "OPUS")}

#: Words of the fake transcripts (any language: the recipe keeps them as they are).
_MLS_WORDS = ["anna", "ging", "nach", "hause", "und", "sah", "den", "alten", "baum", "im", "wald"]


def mls_dir_name(lang: str, audio_format: str = "flac") -> str:
    """The directory a language's archive unpacks to: ``mls_<lang>`` or ``mls_<lang>_opus``."""
    return f"mls_{lang}" if audio_format == "flac" else f"mls_{lang}_{audio_format}"


def write_mls(
    root: Pathlike,
    lang: str,
    n_per_split: int,
    extra_train: int = 2,
    durations: Sequence[float] = (1.0, 1.5, 2.0),
    speakers: int = 2,
    audio_format: str = "flac",
    sample_rate: int = 16000,
    seed: int = 0,
) -> List[Path]:
    """Write a fake MLS language in the real layout (module docstring) under ``root``.

    Train holds ``n_per_split + extra_train`` utterances. The first ``n_per_split`` are the
    limited-supervision subset: odd ones in ``9hr/handles.txt``, even ones spread over
    ``1hr/{0..5}/handles.txt`` (so with few utterances some 1hr lists are empty; each of the
    1h and 9h subsets is non-empty from ``n_per_split >= 2``); the ``extra_train`` ones are in
    no list (the rest of the full training set). Dev and test hold ``n_per_split`` each.
    Every transcript is distinct; the second of each split has a hyphenated word and an
    apostrophe, as real ones do.

    Args:
        root: The directory of all languages (created if missing).
        lang: The language as in the archive's name, e.g. ``german``.
        n_per_split: Utterances of the subset, of dev and of test.
        extra_train: Training utterances in no limited-supervision list.
        durations: Seconds per utterance, cycled.
        speakers: Speakers per split (each reads one book), cycled over the utterances.
        audio_format: ``flac`` (16-bit FLAC, ``mls_<lang>/``) or ``opus`` (Ogg Opus,
            ``mls_<lang>_opus/``).
        sample_rate: Rate of the files (the real corpus: 16000).
        seed: Seed of the noise and part of the speaker ids (another language: another seed).

    Returns:
        list of Path: The audio files written, train, dev, then test.

    Raises:
        ValueError: if ``n_per_split`` or ``speakers`` is below 1, ``extra_train`` below 0,
            ``durations`` is empty or ``audio_format`` is not one of :data:`MLS_AUDIO`.
    """
    if n_per_split < 1 or speakers < 1 or extra_train < 0 or not durations:
        raise ValueError(
            f"need n_per_split >= 1, speakers >= 1, extra_train >= 0 and durations, got "
            f"{n_per_split}, {speakers}, {extra_train}, {list(durations)}"
        )
    if audio_format not in MLS_AUDIO:
        raise ValueError(f"audio_format must be one of {sorted(MLS_AUDIO)}, got {audio_format!r}")
    fmt, subtype = MLS_AUDIO[audio_format]
    lang_dir = Path(root) / mls_dir_name(lang, audio_format)
    counts = {"train": n_per_split + extra_train, "dev": n_per_split, "test": n_per_split}
    paths, meta, i = [], [], 0
    ids: Dict[str, List[str]] = {}
    for si, (split, n) in enumerate(counts.items()):
        transcripts, segments, ids[split] = [], [], []
        for k in range(n):
            spk = 1000 * (seed + 1) + 100 * si + 1 + k % speakers  # 1001, 1002; dev 1101...
            book = 5000 + 1000 * seed + 100 * si + k % speakers
            utt = f"{spk}_{book}_{k:06d}"
            audio_dir = lang_dir / split / "audio" / str(spk) / str(book)
            audio_dir.mkdir(parents=True, exist_ok=True)
            dur = durations[i % len(durations)]
            path = audio_dir / f"{utt}.{audio_format}"
            audio = tone(dur, sample_rate, 180.0 + 30.0 * (i % 9), seed * 1000 + i)
            sf.write(str(path), audio, sample_rate, format=fmt, subtype=subtype)
            paths.append(path)
            words = [_MLS_WORDS[(i + j) % len(_MLS_WORDS)] for j in range(2 + i % 3)]
            if k == 1:
                words[0] = f"{words[0]}-{words[1]}'s"
            transcripts.append(f"{utt}\t{' '.join(words)} {split} {k}")
            url = f"http://www.archive.org/download/book_{book}_librivox/part_{k:02d}_64kb.mp3"
            segments.append(f"{utt}\t{url}\t{10.0 * k:.2f}\t{10.0 * k + dur:.2f}")
            ids[split].append(utt)
            if k < speakers:
                meta.append((spk, "MF"[spk % 2], split, book))
            i += 1
        (lang_dir / split / "transcripts.txt").write_text("\n".join(transcripts) + "\n")
        (lang_dir / split / "segments.txt").write_text("\n".join(segments) + "\n")
    _write_limited_supervision(
        lang_dir / "train" / "limited_supervision", ids["train"][:n_per_split]
    )
    _write_metainfo(lang_dir / "metainfo.txt", meta)
    return paths


def _write_limited_supervision(root: Path, subset: Sequence[str]) -> None:
    """``9hr/handles.txt`` (the odd ids) and ``1hr/{0..5}/handles.txt`` (the even ones)."""
    lists: Dict[str, List[str]] = {f"1hr/{n}": [] for n in range(6)}
    lists["9hr"] = []
    for k, utt in enumerate(subset):
        lists["9hr" if k % 2 else f"1hr/{(k // 2) % 6}"].append(utt)
    for name, handles in lists.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "handles.txt").write_text("".join(h + "\n" for h in handles))


def _write_metainfo(path: Path, rows: Sequence[tuple]) -> None:
    """``metainfo.txt``: a header and ``|``-separated, space-padded columns, as MLS has it."""
    cols = ["SPEAKER", "GENDER", "PARTITION", "MINUTES", "BOOK ID", "TITLE", "CHAPTER"]
    lines = [" | ".join(c.center(10) for c in cols)]
    for spk, gender, split, book in rows:
        fields = [str(spk), gender, split, "12.345", str(book), f"Book {book}", "Chapter 1"]
        lines.append(" | ".join(f.center(10) for f in fields))
    path.write_text("\n".join(lines) + "\n")
