"""IARPA BABEL language packs: transcripts, file names, SPHERE headers, and the held-out split.

A pack (LDC2016S06 ...) holds ``conversational/{training,dev}/audio/<name>.sph`` (8 kHz
mu-law NIST SPHERE, one side of a telephone call per file; some packs also have ``.wav``) and
``conversational/{training,dev}/transcription/<name>.txt``. A transcript alternates time marks
and text; the text between two marks is one segment, and the last mark only ends the segment
before it::

    [0.000]
    <no-speech>
    [3.210]
    hello (()) <breath> how are you
    [7.055]

    segments = read_transcript(path)            # [Segment(0.0, 3.21, "<no-speech>"), ...]
    strip_annotations("hello (()) <breath> wor- *speling*")   # -> "hello wor speling"
    is_shorten(sphere_header(path))             # True for shorten-compressed SPHERE
    dev = held_out(["10036", "10042", ...], 0.1)   # whole speakers' calls for the dev set

Annotations (:func:`strip_annotations`), as the BABEL preparation of XTREME-S (a benchmark by
several XLS-R authors) handles them: every tag ``<...>`` (``<no-speech>``, ``<noise>``,
``<breath>``, ``<cough>``, ``<laugh>``, ``<lipsmack>``, ``<click>``, ``<ring>``, ``<dtmf>``,
``<int>``, ``<sta>``, ``<overlap>``, ``<foreign>``, ``<prompt>``, ``<hes>``,
``<male-to-female>`` ...) and every ``(())`` (unintelligible) is removed, the words around
them are kept; a segment left without words is dropped. Beyond XTREME-S, which leaves them in
the text: ``~`` is removed, the ``-`` of a truncated word (``wor-``, ``-ing``) and the ``*``
around a misspelt word are stripped and the word kept, a ``_`` at either end of a word (spelt
letters) is stripped, and the parentheses of a ``((guess))`` go, its words stay.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple, Union

Pathlike = Union[str, Path]

#: BABEL language codes and names (the code is part of every file name of a pack).
BABEL_LANGUAGES = {
    "101": "cantonese",
    "102": "assamese",
    "103": "bengali",
    "104": "pashto",
    "105": "turkish",
    "106": "tagalog",
    "107": "vietnamese",
    "201": "haitian",
    "202": "swahili",
    "203": "lao",
    "204": "tamil",
    "205": "kurmanji",
    "206": "zulu",
    "207": "tok-pisin",
    "301": "cebuano",
    "302": "kazakh",
    "303": "telugu",
    "304": "lithuanian",
    "305": "guarani",
    "306": "igbo",
    "307": "amharic",
    "401": "mongolian",
    "402": "javanese",
    "403": "dholuo",
    "404": "georgian",
}

_TIME_MARK = re.compile(r"^\s*\[\s*(\d+(?:\.\d*)?)\s*\]\s*$")
_TAG = re.compile(r"<[^<>\s]*>")
# BABEL_<phase>_<code>_<speaker id>_<date>_<time>_<inLine|outLine>, e.g.
# BABEL_OP1_102_10036_20120221_160033_inLine (phase: BP, OP1, OP2, OP3 ...)
_FILE_NAME = re.compile(
    r"^BABEL_[A-Za-z0-9]+_(?P<lang>\d{3})_(?P<id>[^_]+)_(?P<date>\d+)_(?P<time>\d+)_(?P<side>inLine|outLine)$"
)


@dataclass(frozen=True)
class Segment:
    """One stretch of a transcript: from one time mark to the next (seconds), and its text."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class CallSide:
    """What a BABEL file name says: language code, speaker id, the call's date and time, and
    the side (``A``: the recruited speaker, ``inLine``; ``B``: the other party, ``outLine``)."""

    lang: str
    speaker_id: str
    date: str
    time: str
    side: str

    @property
    def conversation(self) -> str:
        """The call both sides of which are in one pack (``<code>_<id>_<date>_<time>``)."""
        return f"{self.lang}_{self.speaker_id}_{self.date}_{self.time}"

    @property
    def speaker(self) -> str:
        """``<code>_<id>_A`` for the inLine side, ``<code>_<id>_B`` for the outLine side."""
        return f"{self.lang}_{self.speaker_id}_{self.side}"


def parse_file_name(stem: str) -> Optional[CallSide]:
    """The :class:`CallSide` of a pack's file name (without extension), or None when the
    name does not follow the BABEL pattern."""
    m = _FILE_NAME.match(stem)
    if m is None:
        return None
    side = "A" if m["side"] == "inLine" else "B"
    return CallSide(m["lang"], m["id"], m["date"], m["time"], side)


def read_transcript(path: Pathlike) -> Tuple[List[Segment], bool]:
    """The segments of a BABEL transcript, in order, and whether text follows the last mark.

    Text lines between two time marks are joined by a space; an interval without text
    gives a segment with ``text == ""``. Text after the last mark has no end time and is
    not returned (the flag says that there was some).

    Raises:
        ValueError: naming the file and line, for text before the first time mark or a time
            mark earlier than the one before it.
    """
    segments: List[Segment] = []
    start: Optional[float] = None
    text: List[str] = []
    with open(path, encoding="utf-8-sig") as f:
        for number, line in enumerate(f, 1):
            m = _TIME_MARK.match(line)
            if m is None:
                if line.strip() and start is None:
                    raise ValueError(f"{path}:{number}: text before the first time mark [seconds]")
                text.append(line.strip())
                continue
            mark = float(m[1])
            if start is not None:
                if mark < start:
                    raise ValueError(
                        f"{path}:{number}: time mark [{m[1]}] is before the previous one "
                        f"[{start}]; fix the file or remove it"
                    )
                segments.append(Segment(start, mark, " ".join(t for t in text if t)))
            start, text = mark, []
    return segments, any(text)


def strip_annotations(text: str) -> str:
    """The words of a transcript line without BABEL's annotations (see the module docstring).

    Returns:
        str: words separated by single spaces; ``""`` when only annotations were there.
    """
    text = _TAG.sub(" ", text).replace("(())", " ").replace("~", " ")
    words = []
    for token in text.split():
        word = token.replace("((", "").replace("))", "").strip("*").strip("-").strip("_")
        if word:
            words.append(word)
    return " ".join(words)


def has_annotation(text: str) -> bool:
    """True when ``text`` holds a tag or ``(())`` (to tell a no-speech segment from an
    empty one in the counts)."""
    return bool(_TAG.search(text)) or "(())" in text


def sphere_header(path: Pathlike) -> Dict[str, str]:
    """The fields of a NIST SPHERE header (``sample_coding`` -> ``ulaw`` ...), or ``{}`` when
    the file is not SPHERE (no ``NIST_1A`` first line)."""
    with open(path, "rb") as f:
        head = f.read(1024)
        lines = head.split(b"\n")
        if not head.startswith(b"NIST_1A") or len(lines) < 2:
            return {}
        size = int(lines[1].strip() or 1024)
        if size > len(head):
            head += f.read(size - len(head))
    fields = {}
    for line in head[:size].decode("latin-1").splitlines()[2:]:
        parts = line.split(None, 2)
        if parts and parts[0] == "end_head":
            break
        if len(parts) == 3:
            fields[parts[0]] = parts[2].strip()
    return fields


def is_shorten(header: Dict[str, str]) -> bool:
    """True for shorten-compressed SPHERE (``sample_coding -s.. pcm,embedded-shorten-v2.00``),
    which libsndfile cannot read."""
    return "shorten" in header.get("sample_coding", "")


def held_out(groups: Iterable[str], fraction: float) -> Set[str]:
    """The groups (speaker ids, each with all its calls) held out of training as the dev set:
    the first ``round(fraction * n)`` of the ``n`` distinct groups in md5 order of their
    names, at least one when ``fraction > 0``, and never all (none of a single group). The choice depends
    on the names alone, so it is the same on every machine and for every ``num_jobs``.

    Raises:
        ValueError: if ``fraction`` is not in [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"the dev fraction must be in [0, 1), got {fraction}")
    names = sorted(set(groups), key=lambda g: hashlib.md5(g.encode()).hexdigest())
    n = math.floor(fraction * len(names) + 0.5)
    if len(names) < 2:
        n = 0  # a dev set would leave nothing to train on
    elif fraction > 0:
        n = min(max(n, 1), len(names) - 1)
    return set(names[:n])
