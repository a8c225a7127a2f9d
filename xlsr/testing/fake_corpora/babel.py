"""A fake IARPA BABEL language pack in the real layout, for recipe tests.

    paths = write_babel(tmp_path / "IARPA_BABEL_OP1_102", "102", train_calls=4)
    make_shorten(paths["training"][0])     # its header now says shorten-compressed

Each call has two sides (``..._inLine.sph``, ``..._outLine.sph``: 8 kHz mu-law NIST SPHERE
written by soundfile, a tone plus noise) and a transcript per side whose first segment is
``<no-speech>``, and whose other segments carry words with BABEL's annotations. The first
training call's inLine side is :data:`SHOWCASE`: its words, time marks and what a recipe
must make of them are fixed, so tests can check them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import soundfile as sf

from xlsr.testing.corpus import tone

Pathlike = Union[str, Path]

_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
#: Annotations cycled over the generic segments ({w}: a word of the segment).
_ANNOTATIONS = ["<breath>", "(())", "<laugh>", "*{w}*", "{w}-", "<hes>", "~", "<noise> <click>"]

#: The first training call's inLine transcript as (start, text) and its last time mark; the
#: segment texts after cleaning are :data:`SHOWCASE_TEXTS` (None: dropped).
SHOWCASE: Tuple[Sequence[Tuple[float, str]], float] = (
    [
        (0.0, "<no-speech>"),
        (0.75, "<lipsmack> Alpha (()) brav- *charlie* <hes> delta_ ~"),
        (2.125, "(()) <breath>"),
        (2.75, "<overlap> echo-foxtrot <foreign> golf"),
    ],
    4.5,
)
SHOWCASE_TEXTS = [None, "alpha brav charlie delta", None, "echo foxtrot golf"]


def babel_name(lang: str, speaker_id: str, call: int, side: str, phase: str = "OP1") -> str:
    """A pack's file name: ``BABEL_<phase>_<lang>_<speaker id>_<date>_<time>_<side>``."""
    return f"BABEL_{phase}_{lang}_{speaker_id}_20120221_{160000 + call:06d}_{side}"


def _generic(call: int, side: int, n_segments: int) -> Tuple[List[Tuple[float, str]], float]:
    segments, t = [(0.0, "<no-speech>")], 0.5
    for k in range(n_segments):
        words = [_WORDS[(3 * call + 2 * side + k + j) % len(_WORDS)] for j in range(1 + k % 2)]
        note = _ANNOTATIONS[(call + side + k) % len(_ANNOTATIONS)]
        if "{w}" in note:
            words[-1] = note.format(w=words[-1])
        else:
            words.append(note)
        segments.append((round(t, 3), " ".join(words)))
        t += 1.0 + 0.25 * ((call + k) % 3)
    return segments, round(t, 3)


def _write_side(pack: Path, split: str, name: str, transcript, sample_rate: int, seed: int) -> Path:
    segments, last = transcript
    lines = []
    for start, text in segments:
        lines += [f"[{start:.3f}]", text]
    lines.append(f"[{last:.3f}]")
    (pack / "conversational" / split / "transcription" / f"{name}.txt").write_text(
        "\n".join(lines) + "\n", encoding="utf-8"
    )
    audio = tone(last + 0.25, sample_rate, 300.0 + 37.0 * (seed % 11), seed)
    path = pack / "conversational" / split / "audio" / f"{name}.sph"
    sf.write(str(path), audio, sample_rate, format="NIST", subtype="ULAW")
    return path


def write_babel(
    root: Pathlike,
    lang: str = "102",
    train_calls: int = 4,
    dev_calls: int = 1,
    segments_per_side: int = 2,
    sample_rate: int = 8000,
    phase: str = "OP1",
    seed: int = 0,
) -> Dict[str, List[Path]]:
    """Write a fake BABEL pack: ``<root>/conversational/{training,dev}/{audio,transcription}/``.

    Per call two sides, ``<name>.sph`` and ``<name>.txt`` each (:func:`babel_name`; the
    speaker id of call ``i`` is ``1<seed:01d><i:03d>``, distinct between training and dev).
    A transcript alternates time marks ``[s.sss]`` and text lines and ends with a mark; its
    first segment is ``<no-speech>``, then ``segments_per_side`` segments of 1-2 words with
    an annotation each (a tag, ``(())``, ``*misspelt*``, ``truncated-``, ``~``), 1-1.5 s
    long. The first training call's inLine side is :data:`SHOWCASE`, its outLine side has an
    interval with no text (two time marks in a row). The audio lasts 0.25 s beyond the last
    time mark.

    Args:
        root: The pack's directory (created if missing).
        lang: The BABEL language code in the file names.
        train_calls: Calls in ``conversational/training``.
        dev_calls: Calls in ``conversational/dev`` (the recipe's test set).
        segments_per_side: Segments with words per generic side.
        sample_rate: Rate of the SPHERE files (the real packs: 8000).
        phase: The program phase in the file names (BP, OP1, OP2, OP3).
        seed: Seed of the noise and part of the speaker ids.

    Returns:
        dict: ``"training"`` and ``"dev"`` -> the audio files written.

    Raises:
        ValueError: with fewer than 1 call in a split or 1 segment per side.
    """
    if train_calls < 1 or dev_calls < 1 or segments_per_side < 1:
        raise ValueError(
            f"need >= 1 training and dev call and segment per side, got {train_calls}, "
            f"{dev_calls}, {segments_per_side}"
        )
    root, out = Path(root), {"training": [], "dev": []}
    call = 0
    for split, n in (("training", train_calls), ("dev", dev_calls)):
        for d in ("audio", "transcription"):
            (root / "conversational" / split / d).mkdir(parents=True, exist_ok=True)
        for _ in range(n):
            speaker_id = f"1{seed % 10}{call:03d}"
            for side, side_name in enumerate(("inLine", "outLine")):
                transcript = _generic(call, side, segments_per_side)
                if call == 0 and side == 0:
                    transcript = SHOWCASE
                elif call == 0:
                    segments, last = transcript
                    transcript = ([*segments, (last, "")], round(last + 0.5, 3))
                name = babel_name(lang, speaker_id, call, side_name, phase)
                path = _write_side(
                    root, split, name, transcript, sample_rate, seed * 100 + 2 * call + side
                )
                out[split].append(path)
            call += 1
    return out


def make_shorten(path: Pathlike) -> None:
    """Rewrite a SPHERE header to say shorten-compressed (``pcm,embedded-shorten-v2.00``),
    as older LDC releases are; the samples stay mu-law (a reader must stop at the header)."""
    path = Path(path)
    data = path.read_bytes()
    size = int(data.split(b"\n")[1])
    text = data[:size].split(b"end_head")[0]
    text = text.replace(b"sample_coding -s4 ulaw", b"sample_coding -s26 pcm,embedded-shorten-v2.00")
    text = text.replace(b"sample_n_bytes -s1 1", b"sample_n_bytes -i 2")
    header = (text + b"end_head\n").ljust(size, b" ")
    path.write_bytes(header + data[size:])
