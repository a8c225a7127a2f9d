#!/usr/bin/env python3
"""Stage 1 of egs/babel/ASR: lhotse manifests of one IARPA BABEL language pack, one cut per
transcribed segment.

Usage:
    local/prepare_babel.py --pack-dir download/babel/IARPA_BABEL_OP1_102 --lang 102 \
        --output-dir data/102/manifests [--dev-fraction 0.1] [--num-jobs 8]

The pack holds ``conversational/{training,dev}/audio/<name>.{sph,wav}`` and
``conversational/{training,dev}/transcription/<name>.txt`` (time marks ``[12.345]``
alternating with text; see ``xlsr.data.babel``). Writes
``babel_<lang>_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz``, one item at a time:

- recordings: the whole audio files as they are (8 kHz; the data loader resamples to 16 kHz
  with ``xlsr.data.audio.resample_waveform``), read by libsndfile (``xlsr.data.audio.read_sphere_with_libsndfile``: lhotse's
  default would send ``.sph`` to the sph2pipe program);
- supervisions: one per segment between two time marks, ``text`` = its words without BABEL's
  annotations (``xlsr.data.babel.strip_annotations``) through the toolkit's text normaliser,
  ``speaker`` = ``<code>_<id>_A`` (inLine) or ``_B`` (outLine), ``language`` = ``--lang``;
  segments left without words (``<no-speech>``, noises, ``(())`` only, or empty), of no
  duration or beyond the end of the audio are dropped, and counted in the log;
- cuts: the segments (``trim_to_supervisions`` of each recording's cut).

Splits: ``test`` = the pack's ``conversational/dev``; ``dev`` = the calls of
``--dev-fraction`` of the training speaker ids (md5 order, both sides of each call, every
call of a speaker: dev never shares a call or a recruited speaker with train); ``train`` =
the rest of ``conversational/training``.

Stops with a message (no traceback) naming the file, when a pack file is of another language
than ``--lang``, a transcript is malformed, or a ``.sph`` file is shorten-compressed.
"""

import argparse
import logging
import sys
from collections import Counter
from pathlib import Path
from typing import List, NamedTuple, Tuple

from lhotse import CutSet, RecordingSet, SupervisionSegment, SupervisionSet

from xlsr.data.babel import (
    BABEL_LANGUAGES,
    Segment,
    has_annotation,
    held_out,
    is_shorten,
    parse_file_name,
    read_transcript,
    sphere_header,
    strip_annotations,
)
from xlsr.data.recordings import scan_recordings
from xlsr.data.text_norm import TextNormalizer


class Item(NamedTuple):
    """One side of a call: its recording id (the file name), audio, segments and speaker."""

    rec_id: str
    audio: Path
    segments: List[Segment]
    speaker: str
    group: str  # the training speaker id: the unit held out for dev


def list_split(split_dir: Path, lang: str) -> List[Item]:
    """The transcribed files of ``conversational/<split>``, in name order, with their audio
    (transcripts without audio, and text after a transcript's last time mark, are counted in
    the log and left out).

    Raises:
        ValueError: naming the file, for a file of another BABEL language, a malformed
            transcript or shorten-compressed SPHERE.
    """
    audio_dir = split_dir / "audio"
    items, shorten, counts = [], [], Counter()
    for txt in sorted((split_dir / "transcription").glob("*.txt")):
        stem = txt.stem
        side = parse_file_name(stem)
        if side is not None and side.lang != lang:
            name = BABEL_LANGUAGES.get(side.lang, "unknown")
            raise ValueError(
                f"{txt}: a file of BABEL language {side.lang} ({name}), but --lang is {lang}: "
                f"point --pack-dir (or --corpus-dir/{lang}) at the pack of language {lang}"
            )
        audio = next(
            (
                audio_dir / f"{stem}{ext}"
                for ext in (".sph", ".wav")
                if (audio_dir / f"{stem}{ext}").exists()
            ),
            None,
        )
        if audio is None:
            counts["transcripts without audio"] += 1
            logging.warning("%s: no %s/%s.sph or .wav, skipped", txt, audio_dir, stem)
            continue
        if audio.suffix == ".sph" and is_shorten(sphere_header(audio)):
            shorten.append(audio)
            continue
        segments, trailing = read_transcript(txt)
        counts["transcripts with text after the last time mark"] += trailing
        speaker = side.speaker if side else stem
        items.append(Item(stem, audio, segments, speaker, side.speaker_id if side else stem))
    if shorten:
        raise ValueError(shorten_message(shorten))
    left_out = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v)
    logging.info(
        "%s: %d transcribed files%s", split_dir, len(items), f" ({left_out})" if left_out else ""
    )
    return items


def shorten_message(files: List[Path]) -> str:
    coding = sphere_header(files[0]).get("sample_coding", "")
    return (
        f"{files[0]}: shorten-compressed NIST SPHERE (sample_coding {coding}), which libsndfile "
        f"cannot read ({len(files)} such file(s) in {files[0].parent}). Decompress them with "
        f"sph2pipe (LDC's SPHERE conversion tool; `lhotse install-sph2pipe` builds it) into a "
        f"copy of the pack, e.g. for f in {files[0].parent}/*.sph; do "
        f'sph2pipe -f sph "$f" COPY/conversational/.../audio/"$(basename "$f")"; done, '
        f"and pass the copy with --pack-dir (see README.md)"
    )


def supervisions_of(item: Item, duration: float, lang: str, counts: Counter) -> List:
    """The supervisions of one recording's segments; dropped ones are counted by reason."""
    normalize = TextNormalizer()
    sups = []
    for seg in item.segments:
        text = normalize(strip_annotations(seg.text))
        end = min(seg.end, duration)
        if not text:
            reason = "no speech: annotations only" if has_annotation(seg.text) else "no text"
            counts[f"segments dropped, {reason}"] += 1
        elif end <= seg.start:
            why = "zero duration" if seg.end <= seg.start else "after the end of the audio"
            counts[f"segments dropped, {why}"] += 1
        else:
            counts["segments cut at the end of the audio"] += seg.end > duration + 0.01
            sups.append(
                SupervisionSegment(
                    id=f"{item.rec_id}-{round(seg.start * 1000):08d}",
                    recording_id=item.rec_id,
                    start=seg.start,
                    duration=round(end - seg.start, 6),
                    text=text,
                    speaker=item.speaker,
                    language=lang,
                )
            )
    return sups


def write_split(
    items: List[Item], out_dir: Path, prefix: str, split: str, lang: str, num_jobs: int
) -> None:
    """Recordings, supervisions and segment cuts of one split, written one recording at a
    time; logs how many segments were kept and why the others were dropped."""
    counts: Counter = Counter()
    seconds = 0.0
    names = {
        k: out_dir / f"{prefix}_{k}_{split}.jsonl.gz"
        for k in ("recordings", "supervisions", "cuts")
    }
    with (
        RecordingSet.open_writer(names["recordings"]) as recs,
        SupervisionSet.open_writer(names["supervisions"]) as sup_writer,
        CutSet.open_writer(names["cuts"]) as cuts,
    ):
        scanned = scan_recordings([(it.rec_id, str(it.audio)) for it in items], num_jobs, split)
        for item, rec in zip(items, scanned):
            sups = supervisions_of(item, rec.duration, lang, counts)
            recs.write(rec)
            for sup in sups:
                sup_writer.write(sup)
            cut = rec.to_cut()
            cut.supervisions = sups
            for seg_cut in CutSet.from_cuts([cut]).trim_to_supervisions(keep_overlapping=False):
                cuts.write(seg_cut)
            counts["segments"] += len(sups)
            seconds += sum(s.duration for s in sups)
    kept = counts.pop("segments")
    logging.info(
        "%s: %d recordings, %d segments (%.2f h); %s",
        split,
        len(items),
        kept,
        seconds / 3600,
        ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "nothing dropped",
    )


def split_training(items: List[Item], dev_fraction: float) -> Tuple[List[Item], List[Item]]:
    """(train, dev): whole training speakers' calls held out as dev (:func:`held_out`)."""
    dev_groups = held_out((it.group for it in items), dev_fraction)
    return [it for it in items if it.group not in dev_groups], [
        it for it in items if it.group in dev_groups
    ]


def prepare_babel(
    pack_dir: Path, lang: str, out_dir: Path, dev_fraction: float = 0.1, num_jobs: int = 1
) -> None:
    """Writes the train / dev / test manifests of a pack (see the module docstring)."""
    training = list_split(pack_dir / "conversational" / "training", lang)
    test = list_split(pack_dir / "conversational" / "dev", lang)
    train, dev = split_training(training, dev_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, items in (("train", train), ("dev", dev), ("test", test)):
        write_split(items, out_dir, f"babel_{lang}", split, lang, num_jobs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pack-dir", required=True, type=Path, help="holds conversational/")
    p.add_argument("--lang", required=True, help="the BABEL language code, e.g. 102")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument(
        "--dev-fraction", type=float, default=0.1, help="training speakers held out as dev"
    )
    p.add_argument("--num-jobs", type=int, default=1)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        prepare_babel(a.pack_dir, a.lang, a.output_dir, a.dev_fraction, a.num_jobs)
    except ValueError as e:
        print(f"{sys.argv[0]}: ERROR: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
