"""What ``xlsr.bin.decode --cuts`` takes, as cuts for the data loader.

    given                                   kind       references
    a lhotse cut manifest (*.jsonl.gz ...)  manifest   the supervisions' text (as before)
    a Kaldi data dir (wav.scp, optional     kaldi      ``text`` when the dir has one
    ``text`` and ``segments``)
    audio files and directories (searched   audio      none
    recursively for AUDIO_SUFFIXES)

Audio in any format soundfile reads, at any sample rate, with any number of channels: the
data loader resamples to 16 kHz and averages the channels (``xlsr.data.audio``). A file that
cannot be opened keeps its utterance: it comes back in ``DecodeInput.unreadable`` (a cut
without audio, with its reference where there is one) and is reported as skipped.

Utterance ids: a Kaldi dir's (utterance ids of ``segments``, else recording ids of
``wav.scp``); for audio files, the path relative to the common directory of the inputs,
without its suffix (``sub/a`` for ``DIR/sub/a.wav``), with it where two files differ only by
their suffixes. A ``wav.scp`` entry that is a command (``... |``) is refused: write its
output to files first.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from lhotse import CutSet, Recording, SupervisionSegment
from lhotse.cut import Cut, MonoCut, MultiCut

logger = logging.getLogger(__name__)
Pathlike = Union[str, Path]
MANIFEST_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".yaml", ".yml")
#: what a directory is searched for (case-insensitive); a file named on its own may be any
AUDIO_SUFFIXES = tuple(
    f".{s}"
    for s in ["wav", "flac", "ogg", "opus", "mp3", "aiff", "aif", "au", "caf", "w64", "rf64", "sph"]
)
UNREADABLE = "unreadable_audio"  # the data loader's reason for audio that does not decode


@dataclass
class DecodeInput:
    """The utterances to decode.

    Attributes:
        kind: "manifest", "kaldi" or "audio".
        cuts: the manifest file (read lazily) or the cuts built from the input.
        has_refs: whether the utterances have reference transcripts (to score against).
        unreadable: (cut without audio, reason) of each utterance whose audio could not
            be opened; they are not decoded and count as skipped.
    """

    kind: str
    cuts: Union[Path, CutSet]
    has_refs: bool = True
    unreadable: List[Tuple[Cut, str]] = field(default_factory=list)


def is_manifest(path: Pathlike) -> bool:
    return Path(path).is_file() and str(path).lower().endswith(MANIFEST_SUFFIXES)


def read_input(paths: Sequence[Pathlike]) -> DecodeInput:
    """The utterances of ``--cuts``: one manifest, one Kaldi data dir, or audio files and
    directories.

    Raises:
        ValueError: naming the path when the input is none of those (or mixes them).
    """
    paths = [Path(p) for p in paths]
    single = [p for p in paths if is_manifest(p) or (p / "wav.scp").is_file()]
    if single and len(paths) > 1:
        raise ValueError(
            f"{single[0]}: a manifest or a Kaldi data dir is decoded on its own; give it "
            "alone, or audio files and directories"
        )
    if single and is_manifest(paths[0]):
        return DecodeInput("manifest", paths[0])
    if single:
        return kaldi_input(paths[0])
    return audio_input(paths)


# ------------------------------------------------------------------------------ audio files


def find_audio(paths: Sequence[Path]) -> List[Path]:
    """Files named, and files under directories with an AUDIO_SUFFIXES suffix, in order."""
    found: List[Path] = []
    for path in paths:
        if path.is_dir():
            under = [
                Path(root) / name
                for root, _, names in os.walk(path)
                for name in names
                if name.lower().endswith(AUDIO_SUFFIXES)
            ]
            if not under:
                raise ValueError(
                    f"{path}: no audio files under it (searched for {', '.join(AUDIO_SUFFIXES)}"
                    "), no wav.scp (Kaldi data dir)"
                )
            found += sorted(under)
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def audio_ids(files: Sequence[Path]) -> List[str]:
    """Ids of audio files: paths relative to their common directory, without suffix (with it
    where two would clash)."""
    absolute = [f.resolve() for f in files]
    common = Path(os.path.commonpath([str(f.parent) for f in absolute]))
    relative = [f.relative_to(common) for f in absolute]
    stems = [r.with_suffix("").as_posix() for r in relative]
    if len(set(stems)) == len(stems):
        return stems
    return [r.as_posix() for r in relative]


def audio_input(paths: Sequence[Path]) -> DecodeInput:
    files = find_audio(paths)
    cuts, unreadable = [], []
    for cut_id, path in zip(audio_ids(files), files):
        recording = open_recording(path, cut_id)
        if recording is None:
            unreadable.append((no_audio_cut(cut_id, None), UNREADABLE))
        else:
            cuts.append(cut_of(recording, cut_id, 0.0, recording.duration, None))
    logger.info(
        "%d audio files (%d unreadable) from %s",
        len(files),
        len(unreadable),
        ", ".join(map(str, paths[:3])) + (" ..." if len(paths) > 3 else ""),
    )
    return DecodeInput("audio", CutSet.from_cuts(cuts), False, unreadable)


def open_recording(path: Pathlike, recording_id: str) -> Optional[Recording]:
    """The recording of an audio file (its header read), or None after a warning naming it."""
    try:
        return Recording.from_file(path, recording_id=recording_id)
    except Exception as e:  # noqa: BLE001 - soundfile / lhotse raise many types
        logger.warning(
            "%s: cannot open the audio, %s (%s)",
            path,
            UNREADABLE,
            " ".join(f"{type(e).__name__}: {e}".split())[:200],
        )
        return None


def cut_of(recording: Recording, cut_id: str, start: float, duration: float, text) -> Cut:
    """A cut of ``recording`` (all its channels) with one supervision over it."""
    channels = recording.channel_ids
    channel = channels[0] if len(channels) == 1 else list(channels)
    sup = SupervisionSegment(
        id=cut_id,
        recording_id=recording.id,
        start=0.0,
        duration=duration,
        channel=channel,
        text=text,
    )
    cls = MonoCut if len(channels) == 1 else MultiCut
    return cls(
        id=cut_id,
        start=start,
        duration=duration,
        channel=channel,
        supervisions=[sup],
        recording=recording,
    )


def no_audio_cut(cut_id: str, text: Optional[str]) -> Cut:
    """A cut that stands for an utterance whose audio could not be opened (its reference)."""
    sup = SupervisionSegment(id=cut_id, recording_id=cut_id, start=0.0, duration=0.0, text=text)
    return MonoCut(id=cut_id, start=0.0, duration=0.0, channel=0, supervisions=[sup])


# ---------------------------------------------------------------------------- Kaldi data dir


def read_table(path: Path, min_fields: int = 2) -> Dict[str, str]:
    """A Kaldi ``key rest-of-line`` table; ValueError naming the file and line of a bad or
    repeated key."""
    table: Dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.strip().split(maxsplit=1)
        if len(parts) < min_fields:
            raise ValueError(f"{path}:{n}: expected '<id> <value>', got {line!r}")
        if parts[0] in table:
            raise ValueError(f"{path}:{n}: id {parts[0]!r} occurs twice")
        table[parts[0]] = parts[1] if len(parts) > 1 else ""
    return table


def _segments(data_dir: Path, wav: Dict[str, str]) -> Dict[str, Tuple[str, float, float]]:
    """utterance id -> (recording id, start, end or -1) from ``segments``, else one
    utterance per recording."""
    path = data_dir / "segments"
    if not path.is_file():
        return {reco: (reco, 0.0, -1.0) for reco in wav}
    out = {}
    for utt, rest in read_table(path).items():
        fields = rest.split()
        try:
            reco, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError):
            raise ValueError(f"{path}: {utt}: expected '<utt> <recording> <start> <end>'") from None
        if reco not in wav:
            raise ValueError(f"{path}: {utt}: recording {reco!r} is not in wav.scp")
        out[utt] = (reco, start, end)
    return out


def kaldi_input(data_dir: Path) -> DecodeInput:
    """The utterances of a Kaldi data dir: ``wav.scp`` (files), optional ``segments`` and
    ``text`` (then every utterance needs a line)."""
    wav = read_table(data_dir / "wav.scp")
    for reco, source in wav.items():
        if source.rstrip().endswith("|"):
            raise ValueError(
                f"{data_dir / 'wav.scp'}: {reco}: a command ({source!r}); decoding reads "
                "audio files: write its output to files and list those"
            )
    utts = _segments(data_dir, wav)
    texts = read_table(data_dir / "text", 1) if (data_dir / "text").is_file() else None
    if texts is not None:
        missing = [u for u in utts if u not in texts]
        if missing:
            raise ValueError(
                f"{data_dir / 'text'}: no transcript for {len(missing)} of {len(utts)} "
                f"utterances (e.g. {missing[:3]}); give every one a line, or remove the file "
                "to decode without scoring"
            )
    recordings = {reco: open_recording(source.strip(), reco) for reco, source in wav.items()}
    cuts, unreadable = [], []
    for utt, (reco, start, end) in utts.items():
        text = texts[utt] if texts is not None else None
        recording = recordings[reco]
        if recording is None:
            unreadable.append((no_audio_cut(utt, text), UNREADABLE))
            continue
        end = recording.duration if end < 0 else min(end, recording.duration)
        cuts.append(cut_of(recording, utt, start, max(end - start, 0.0), text))
    logger.info(
        "Kaldi data dir %s: %d utterances (%d unreadable), %s",
        data_dir,
        len(utts),
        len(unreadable),
        "with text" if texts is not None else "no text",
    )
    return DecodeInput("kaldi", CutSet.from_cuts(cuts), texts is not None, unreadable)
