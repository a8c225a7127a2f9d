"""What the toolkit reads off a lhotse cut's manifest entry (no audio is loaded here).

    cut_text(cut)               # transcript: the supervisions' texts joined
    translation(cut)            # custom["translation"] of the supervisions (ST), or None
    first_sup(cut, "speaker")   # a field of the first supervision, or None
    source_of(cut)              # the audio file, for messages

Batches, filters, targets and ``validate_data`` all read cuts through these.
"""

from __future__ import annotations

from typing import Optional

from lhotse.cut import Cut


def cut_text(cut: Cut) -> str:
    """The transcript of a cut: its supervisions' texts joined by spaces, stripped."""
    return " ".join((s.text or "").strip() for s in cut.supervisions).strip()


def first_sup(cut: Cut, field: str) -> Optional[str]:
    """``field`` (e.g. ``language``, ``speaker``) of the first supervision; None without one."""
    return getattr(cut.supervisions[0], field) if cut.supervisions else None


def translation(cut: Cut) -> Optional[str]:
    """``custom['translation']`` of the supervisions, joined; None when none has one."""
    parts = [(s.custom or {}).get("translation") for s in cut.supervisions]
    parts = [p for p in parts if p]
    return " ".join(parts) if parts else None


def source_of(cut: Cut) -> str:
    """The audio file (or URL / command) of a cut's recording, for messages; "" if none."""
    recording = getattr(cut, "recording", None)
    if recording is None or not recording.sources:
        return ""
    source = recording.sources[0]
    if source.type in ("memory", "shar"):  # audio bytes (a Shar shard): name, not contents
        return f"<{source.type} audio of recording {recording.id}>"
    return str(source.source)
