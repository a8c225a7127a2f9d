"""Tiny on-disk corpora (WAV / FLAC + lhotse manifests) for tests, recipes and demos.

Every file is a function of its arguments and ``seed``: a sine tone whose pitch depends on the
utterance plus a little white noise, written with soundfile. The returned ``CutSet`` is eager and
carries one supervision per cut, the way corpus recipes write them (``text``, ``language``,
``speaker`` and ``custom['translation']``).

Example:
    >>> cuts = make_tiny_cutset(tmp_path, n=4, durations=[0.5, 1.0, 1.5, 2.0])
    >>> bad = write_truncated_flac(tmp_path / "bad.flac")
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import numpy as np
import soundfile as sf
from lhotse import CutSet, MonoCut, Recording, SupervisionSegment

Pathlike = Union[str, Path]

#: Languages and words the tiny corpus cycles through (text, English translation).
_WORDS = {
    "en": ["one two", "three", "four five six", "seven"],
    "de": ["eins zwei", "drei", "vier fuenf sechs", "sieben"],
    "fr": ["un deux", "trois", "quatre cinq six", "sept"],
}


def tone(
    duration: float, sample_rate: int = 16000, freq: float = 440.0, seed: int = 0
) -> np.ndarray:
    """A sine tone at amplitude 0.3 plus white noise at amplitude 0.01.

    Args:
        duration: Seconds.
        sample_rate: Samples per second.
        freq: Tone frequency in Hz.
        seed: Seed of the noise.

    Returns:
        np.ndarray: (samples,) float32 in [-1, 1], ``samples = round(duration * sample_rate)``.
    """
    num = int(round(duration * sample_rate))
    t = np.arange(num, dtype=np.float64) / sample_rate
    noise = np.random.default_rng(seed).standard_normal(num)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * noise).astype(np.float32)


def make_tiny_cutset(
    out_dir: Pathlike,
    n: int = 8,
    durations: Optional[Sequence[float]] = None,
    sample_rate: int = 16000,
    seed: int = 0,
    with_text: bool = True,
    audio_format: str = "wav",
    prefix: str = "utt",
) -> CutSet:
    """Write ``n`` short utterances and return their cuts, one supervision each.

    Args:
        out_dir: Folder for the audio files (created if missing).
        n: Number of utterances.
        durations: Seconds per utterance (length ``n``); default cycles 0.5, 1.0, 1.5, 2.0.
        sample_rate: Sampling rate of the files.
        seed: Seed of the noise (file ``i`` uses ``seed + i``).
        with_text: When False, the supervisions have an empty ``text`` (for LID/SID-style data
            and the empty-transcript path).
        audio_format: ``"wav"`` or ``"flac"``.
        prefix: Prefix of the ids (``{prefix}-{i:04d}``), to build disjoint corpora.

    Returns:
        CutSet: ``n`` eager ``MonoCut``s with ids ``{prefix}-{i:04d}`` (recording and
        supervision ids too); supervision ``language``
        cycles en / de / fr, ``speaker`` is ``spk{i % 3}``, ``custom['translation']`` is the
        English text.

    Raises:
        ValueError: if ``durations`` does not have ``n`` entries or ``audio_format`` is unknown.
    """
    if durations is None:
        durations = [0.5 + 0.5 * (i % 4) for i in range(n)]
    if len(durations) != n:
        raise ValueError(f"durations has {len(durations)} entries, expected n={n}")
    if audio_format not in ("wav", "flac"):
        raise ValueError(f"audio_format must be 'wav' or 'flac', got {audio_format!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cuts: List[MonoCut] = []
    langs = sorted(_WORDS)
    for i, dur in enumerate(durations):
        utt_id = f"{prefix}-{i:04d}"
        path = out_dir / f"{utt_id}.{audio_format}"
        sf.write(str(path), tone(dur, sample_rate, 200.0 + 50.0 * i, seed + i), sample_rate)
        rec = Recording.from_file(path, recording_id=utt_id)
        lang = langs[i % len(langs)]
        k = i % len(_WORDS[lang])
        text = _WORDS[lang][k] if with_text else ""
        sup = _supervision(rec, text, lang, f"spk{i % 3}", _WORDS["en"][k])
        cuts.append(_cut(rec, sup))
    return CutSet.from_cuts(cuts)


def _supervision(
    rec: Recording, text: str, language: str, speaker: str, translation: str
) -> SupervisionSegment:
    """One supervision over the whole of ``rec``, with the same id."""
    return SupervisionSegment(
        id=rec.id,
        recording_id=rec.id,
        start=0.0,
        duration=rec.duration,
        text=text,
        language=language,
        speaker=speaker,
        custom={"translation": translation},
    )


def _cut(rec: Recording, sup: SupervisionSegment) -> MonoCut:
    """A cut over the whole of ``rec`` with the same id."""
    return MonoCut(
        id=rec.id, start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]
    )


def write_truncated_flac(
    path: Pathlike, duration: float = 1.0, sample_rate: int = 16000, keep: float = 0.3
) -> Path:
    """Write a FLAC file and cut it off after ``keep`` of its bytes (a broken download).

    Args:
        path: Where to write.
        duration: Seconds of audio before truncation.
        sample_rate: Sampling rate.
        keep: Fraction of the encoded bytes to keep, in (0, 1).

    Returns:
        Path: ``path``. Its header still announces ``duration`` seconds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(duration, sample_rate, seed=1), sample_rate, format="FLAC")
    _truncate(path, keep)
    return path


def _truncate(path: Path, keep: float) -> None:
    """Keep the first ``keep`` fraction of the bytes of ``path``."""
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])


def make_truncated_cut(
    out_dir: Pathlike, utt_id: str = "bad-0000", duration: float = 1.0
) -> MonoCut:
    """A cut whose recording is a truncated FLAC (its manifest made before the truncation).

    Args:
        out_dir: Folder for the file.
        utt_id: Cut, recording and supervision id.
        duration: Seconds the manifest announces.

    Returns:
        MonoCut: with one supervision (text ``"broken"``); loading its audio fails or comes up
        short (lhotse raises either way).
    """
    path = Path(out_dir) / f"{utt_id}.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(duration, 16000, seed=2), 16000, format="FLAC")
    rec = Recording.from_file(path, recording_id=utt_id)
    _truncate(path, keep=0.3)
    return _cut(rec, _supervision(rec, "broken", "en", "spk0", "broken"))


def make_truncated_wav_cut(
    out_dir: Pathlike, utt_id: str = "short-0000", duration: float = 1.0, missing: float = 0.2
) -> MonoCut:
    """A cut whose WAV lost its last ``missing`` seconds after the manifest was made.

    The file still decodes (libsndfile reads what is there), so only a length check notices:
    lhotse pads a shortfall within its tolerance back to the declared length.

    Returns:
        MonoCut: declaring ``duration`` seconds, with one supervision (text ``"short"``).
    """
    path = Path(out_dir) / f"{utt_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(duration, 16000, seed=3), 16000, subtype="PCM_16")
    rec = Recording.from_file(path, recording_id=utt_id)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - int(missing * 16000) * 2])  # 2 bytes a sample
    return _cut(rec, _supervision(rec, "short", "en", "spk0", "short"))
