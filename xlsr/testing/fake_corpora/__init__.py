"""Fake copies of real corpora on disk, in the real layout, for recipe tests.

The audio is a tone plus noise (:func:`xlsr.testing.corpus.tone`), so a recipe's data stages
see the real directory and file-name patterns without any download. This module holds
VoxLingua107, VoxCeleb1 and Common Voice; each further corpus has its own submodule
(``xlsr.testing.fake_corpora.mls`` ...).

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


def write_voxceleb1(
    root: Pathlike,
    speakers: Sequence[str],
    videos_per_speaker: int,
    utts_per_video: int,
    durations: Sequence[float] = (2.0, 3.0),
    sample_rate: int = 16000,
    seed: int = 0,
) -> List[Path]:
    """Write a fake VoxCeleb1: ``<root>/wav/<speaker>/<YouTube id>/NNNNN.wav``, the
    identification split ``<root>/iden_split.txt`` and the trials ``<root>/veri_test2.txt``.

    The real corpus has 1251 speaker directories (``id10001``...) of 16 kHz mono utterances,
    grouped by the YouTube video they come from and numbered ``00001.wav``... per speaker.
    Here a speaker's tone pitch differs from the others'. ``iden_split.txt`` has lines
    ``<1|2|3> <speaker>/<video>/NNNNN.wav``: a speaker's last utterance is 3 (test), the one
    before 2 (dev), the others 1 (train). ``veri_test2.txt`` has lines
    ``<1|0> <enrol path> <test path>``: per speaker a target trial (its first utterance
    against its last) and a non-target trial (its first against the next speaker's last).

    Args:
        root: The corpus directory (created if missing).
        speakers: Speaker ids such as ``id10001``, one directory each.
        videos_per_speaker: Videos per speaker (11-character ids, distinct across speakers).
        utts_per_video: Utterances per video.
        durations: Seconds per utterance, cycled.
        sample_rate: Sampling rate of the files (the real corpus: 16000).
        seed: Seed of the noise.

    Returns:
        list of Path: The wav files written, speaker by speaker.

    Raises:
        ValueError: with fewer than 2 speakers or 3 utterances per speaker (train, dev and
            test need one each), or no ``durations``.
    """
    if len(speakers) < 2 or videos_per_speaker * utts_per_video < 3 or not durations:
        raise ValueError(
            f"need >= 2 speakers, >= 3 utterances per speaker and durations, got "
            f"{len(speakers)}, {videos_per_speaker} x {utts_per_video}, {list(durations)}"
        )
    root, paths, split, firsts, lasts = Path(root), [], [], [], []
    for si, spk in enumerate(speakers):
        rels = []
        for v in range(videos_per_speaker):
            video = f"{spk[-4:]}v{v:02d}s{seed:02d}".ljust(11, "x")[:11]
            (root / "wav" / spk / video).mkdir(parents=True, exist_ok=True)
            for _ in range(utts_per_video):
                rel = f"{spk}/{video}/{len(rels) + 1:05d}.wav"
                dur = durations[len(rels) % len(durations)]
                audio = tone(
                    dur, sample_rate, 150.0 + 90.0 * si, seed * 1000 + si * 100 + len(rels)
                )
                sf.write(str(root / "wav" / rel), audio, sample_rate, subtype="PCM_16")
                paths.append(root / "wav" / rel)
                rels.append(rel)
        split += [f"1 {r}" for r in rels[:-2]] + [f"2 {rels[-2]}", f"3 {rels[-1]}"]
        firsts.append(rels[0])
        lasts.append(rels[-1])
    trials = []
    for i, first in enumerate(firsts):
        trials += [f"1 {first} {lasts[i]}", f"0 {first} {lasts[(i + 1) % len(lasts)]}"]
    (root / "iden_split.txt").write_text("\n".join(split) + "\n")
    (root / "veri_test2.txt").write_text("\n".join(trials) + "\n")
    return paths


#: The classic ten columns of a Common Voice TSV, in order (newer releases add more after them).
COMMONVOICE_COLUMNS = [
    "client_id",
    "path",
    "sentence",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "locale",
    "segment",
]

#: A few words per fake sentence (any language: the recipe only normalises them).
_CV_WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
]


def write_commonvoice(
    root: Pathlike,
    lang: str,
    n_per_split: int,
    extra_validated: int = 2,
    durations: Sequence[float] = (1.0, 1.5, 2.0),
    speakers: int = 3,
    sample_rate: int = 48000,
    extra_columns: Sequence[str] = ("variant", "sentence_id"),
    seed: int = 0,
) -> List[Path]:
    """Write a fake Common Voice language: ``<root>/<lang>/clips/*.mp3`` and its TSVs.

    As a release unpacks: ``clips/common_voice_<lang>_<n>.mp3`` (48 kHz mono mp3), and
    ``train.tsv``, ``dev.tsv``, ``test.tsv``, ``validated.tsv`` with a header line and
    tab-separated :data:`COMMONVOICE_COLUMNS` followed by ``extra_columns`` (newer releases
    add ``variant``, ``sentence_id``...; readers must go by the header). ``validated.tsv``
    holds every split's rows plus ``extra_validated`` rows in no split (text for the LM).
    Sentences carry capitals and punctuation, as the real ones do (some start with a double
    quote, which a reader must not take for CSV quoting), and are distinct.

    Args:
        root: The directory of all languages (created if missing).
        lang: The language code, e.g. ``fr`` (one directory).
        n_per_split: Clips in each of train, dev and test.
        extra_validated: Validated clips in no split.
        durations: Seconds per clip, cycled.
        speakers: Fake client ids, cycled over the clips.
        sample_rate: Rate of the mp3 files (the real corpus: 48000).
        extra_columns: Columns after the classic ten (empty, but ``sentence_id``).
        seed: Seed of the noise (another language: another seed).

    Returns:
        list of Path: The mp3 files written.

    Raises:
        ValueError: if ``n_per_split`` or ``speakers`` is below 1, or ``durations`` is empty.
    """
    if n_per_split < 1 or speakers < 1 or not durations:
        raise ValueError(
            f"need n_per_split >= 1, speakers >= 1 and durations, got {n_per_split}, "
            f"{speakers}, {list(durations)}"
        )
    lang_dir = Path(root) / lang
    (lang_dir / "clips").mkdir(parents=True, exist_ok=True)
    header = list(COMMONVOICE_COLUMNS) + list(extra_columns)
    rows: dict = {"train": [], "dev": [], "test": [], "other": []}
    counts = {"train": n_per_split, "dev": n_per_split, "test": n_per_split}
    counts["other"] = extra_validated
    paths, i = [], 0
    for split, n in counts.items():
        for _ in range(n):
            name = f"common_voice_{lang}_{seed * 100000 + 1000 + i}.mp3"
            dur = durations[i % len(durations)]
            audio = tone(dur, sample_rate, 200.0 + 40.0 * (i % 7), seed * 1000 + i)
            sf.write(str(lang_dir / "clips" / name), audio, sample_rate, format="MP3")
            paths.append(lang_dir / "clips" / name)
            words = [_CV_WORDS[(i + k) % len(_CV_WORDS)] for k in range(1 + i % 3)]
            sentence = f"{' '.join(words).capitalize()}, number {i}!"
            if i % 4 == 1:
                sentence = f'"{sentence}" he said.'
            values = {
                "client_id": f"{seed:04x}client{i % speakers:02d}".ljust(32, "0"),
                "path": name,
                "sentence": sentence,
                "up_votes": "2",
                "down_votes": "0",
                "gender": ("male", "female", "")[i % 3],
                "locale": lang,
                "sentence_id": f"{i:08x}",
            }
            rows[split].append("\t".join(values.get(c, "") for c in header))
            i += 1
    for split in ("train", "dev", "test"):
        _write_tsv(lang_dir / f"{split}.tsv", header, rows[split])
    everything = rows["train"] + rows["dev"] + rows["test"] + rows["other"]
    _write_tsv(lang_dir / "validated.tsv", header, everything)
    return paths


def _write_tsv(path: Path, header: Sequence[str], rows: Sequence[str]) -> None:
    path.write_text("\t".join(header) + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
