"""fairseq wav2vec 2.0 manifests (``<split>.tsv`` + labels) to and from lhotse cuts.

The files of one split in a fairseq data directory (``task.data``), as fairseq reads them:

| file | written by (fairseq) | format | read by |
|---|---|---|---|
| ``<split>.tsv`` | ``examples/wav2vec/wav2vec_manifest.py`` | line 1: root dir; then ``rel/path<TAB>num_samples`` | ``FileAudioDataset`` (``root/rel``, 2 columns) |
| ``<split>.wrd`` | ``examples/wav2vec/libri_labels.py`` | the words of row ``i`` | WER scoring |
| ``<split>.ltr`` | ``libri_labels.py`` | ``" ".join(text.replace(" ", "|")) + " |"`` | ``audio_finetuning`` (``labels=ltr``) |
| ``dict.ltr.txt`` | ``fairseq-preprocess --dict-only`` | ``symbol count``, most frequent first | ``Dictionary.load`` |
| ``<split>.<ext>`` | (by hand) | one label per row | ``audio_classification`` (``labels=<ext>``) |
| ``dict.<ext>.txt`` | (by hand) | ``label count`` | ``Dictionary.load(add_special_symbols=False)`` |

Line ``i`` of every label file belongs to tsv row ``i``. fairseq joins ``root`` and the relative
path with ``os.path.join``, so an absolute path in the second column works as is; we write
relative paths for files under ``root`` and absolute ones otherwise.

Case: ``libri_labels.py`` copies the transcript as it is (LibriSpeech is upper case, hence the
upper-case letters of the released ``dict.ltr.txt``). We keep the case of our (lower-case,
normalised) text unless ``FairseqExportConfig.upper_case``; import keeps the case of the file.

Ids are the relative paths without their suffix (``sub/a`` for ``sub/a.flac``), for recording,
supervision and cut alike. A fairseq row is always a whole file, so only cuts that cover a
whole single-file recording can be exported; others are refused with their ids.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import soundfile as sf
from lhotse import CutSet, Recording, SupervisionSegment
from lhotse.audio import AudioSource

from xlsr.utils.io import atomic_write_text

logger = logging.getLogger(__name__)

Pathlike = Union[str, Path]

#: Supervision fields a classification label can go to (``label_field``).
LABEL_FIELDS = ("language", "speaker")


@dataclass
class FairseqImportConfig:
    label_field: Optional[str] = field(
        default=None,
        metadata={
            "help": "put <split>.<label-ext> lines in this supervision field: language|speaker"
        },
    )
    label_ext: str = field(
        default="label",
        metadata={"help": "label file suffix, fairseq audio_classification task.labels"},
    )
    sample_rate: Optional[int] = field(
        default=16000,
        metadata={"help": "required rate (fairseq task.sample_rate); none: any (header rate)"},
    )
    check_audio: bool = field(
        default=True,
        metadata={"help": "read each file header (soundfile.info) and compare num_samples/rate"},
    )
    skip_bad: bool = field(
        default=False,
        metadata={"help": "skip and count rows whose file is missing or disagrees; else error"},
    )


@dataclass
class FairseqExportConfig:
    label_field: Optional[str] = field(
        default=None,
        metadata={"help": "write this supervision field as <split>.<label-ext>: language|speaker"},
    )
    label_ext: str = field(
        default="label",
        metadata={"help": "label file suffix, fairseq audio_classification task.labels"},
    )
    upper_case: bool = field(
        default=False,
        metadata={"help": "upper-case .wrd/.ltr (as LibriSpeech and the released dict.ltr.txt)"},
    )
    sample_rate: Optional[int] = field(
        default=16000,
        metadata={"help": "refuse recordings at other rates (fairseq task.sample_rate); none: any"},
    )


def letters(text: str) -> str:
    """A ``.ltr`` line as ``libri_labels.py`` writes it: ``"a b"`` -> ``"a | b |"``."""
    return " ".join(list(text.replace(" ", "|"))) + " |"


def text_from_letters(line: str) -> str:
    """The words of a ``.ltr`` line: letters joined, ``|`` -> space."""
    return " ".join("".join(line.split()).replace("|", " ").split())


def read_tsv(path: Pathlike) -> Tuple[Path, List[Tuple[str, int]]]:
    """Root and ``(relative path, num_samples)`` rows of a fairseq ``.tsv``.

    Raises:
        ValueError: naming the file and line: no root line, not 2 tab-separated columns, a
            num_samples that is not a non-negative integer.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].strip() or "\t" in lines[0]:
        found = repr(lines[0]) if lines else "an empty file"
        raise ValueError(f"{path}:1: expected the root directory on the first line, got {found}")
    rows = []
    for n, line in enumerate(lines[1:], start=2):
        items = line.strip().split("\t")
        if len(items) != 2:
            raise ValueError(
                f"{path}:{n}: expected 2 tab-separated columns (path, num_samples), "
                f"got {len(items)}: {line!r}"
            )
        if not items[1].isdigit():
            raise ValueError(f"{path}:{n}: num_samples {items[1]!r} is not an integer")
        rows.append((items[0], int(items[1])))
    return Path(lines[0].strip()), rows


def _read_lines(path: Path, tsv: Path, num_rows: int) -> List[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != num_rows:
        raise ValueError(
            f"{path}: {len(lines)} lines but {tsv} has {num_rows} rows; line i must belong to "
            f"row i (line {min(len(lines), num_rows) + 1} is where they part)"
        )
    return lines


def _recording(
    rec_id: str, path: Path, num_samples: int, cfg: FairseqImportConfig
) -> Tuple[Optional[Recording], str]:
    """The recording of one row, or ``None`` and why it disagrees with the file."""
    rate, channels = cfg.sample_rate or 16000, 1
    if cfg.check_audio:
        try:
            info = sf.info(str(path))
        except (RuntimeError, OSError) as e:
            return None, f"cannot read {path}: {e}"
        if info.frames != num_samples:
            return None, f"{path} has {info.frames} samples, the tsv says {num_samples}"
        if cfg.sample_rate is not None and info.samplerate != cfg.sample_rate:
            return None, f"{path} is at {info.samplerate} Hz, expected {cfg.sample_rate}"
        rate, channels = info.samplerate, info.channels
    source = AudioSource(type="file", channels=list(range(channels)), source=str(path))
    rec = Recording(
        id=rec_id,
        sources=[source],
        sampling_rate=rate,
        num_samples=num_samples,
        duration=num_samples / rate,
    )
    return rec, ""


def import_fairseq(
    manifest_dir: Pathlike, split: str, cfg: Optional[FairseqImportConfig] = None
) -> CutSet:
    """Cuts of one fairseq split: one whole-file cut per ``<split>.tsv`` row, in row order.

    Texts come from ``<split>.wrd``, else from ``<split>.ltr`` (``|`` -> space), else ``None``;
    with ``cfg.label_field``, ``<split>.<cfg.label_ext>`` fills that supervision field.

    Args:
        manifest_dir: The fairseq data directory (``task.data``).
        split: ``train``, ``valid``...
        cfg: Options; see ``FairseqImportConfig``.

    Returns:
        CutSet: eager, one cut per kept row, ids = relative paths without suffix.

    Raises:
        ValueError: naming file and line: a malformed tsv, label files whose line count is not
            the tsv's, a duplicate id, an empty label, or (unless ``cfg.skip_bad``) a file that
            is missing or whose header disagrees with the row.
        FileNotFoundError: no ``<split>.tsv``, or no label file with ``label_field``.
    """
    cfg = cfg or FairseqImportConfig()
    if cfg.label_field is not None and cfg.label_field not in LABEL_FIELDS:
        raise ValueError(f"label_field must be one of {LABEL_FIELDS}, got {cfg.label_field!r}")
    d = Path(manifest_dir)
    tsv = d / f"{split}.tsv"
    if not tsv.is_file():
        raise FileNotFoundError(f"no fairseq manifest {tsv}")
    root, rows = read_tsv(tsv)
    texts: Sequence[Optional[str]] = [None] * len(rows)
    if (d / f"{split}.wrd").is_file():
        texts = [" ".join(t.split()) for t in _read_lines(d / f"{split}.wrd", tsv, len(rows))]
    elif (d / f"{split}.ltr").is_file():
        texts = [text_from_letters(t) for t in _read_lines(d / f"{split}.ltr", tsv, len(rows))]
    labels = _read_labels(d, split, tsv, len(rows), cfg)
    seen: Dict[str, int] = {}
    cuts, bad = [], []
    for i, (rel, num_samples) in enumerate(rows):
        line = i + 2
        rec_id = os.path.splitext(rel)[0]
        if rec_id in seen:
            raise ValueError(f"{tsv}:{line}: id {rec_id!r} already used on line {seen[rec_id]}")
        seen[rec_id] = line
        rec, why = _recording(rec_id, root / rel, num_samples, cfg)
        if rec is None:
            if not cfg.skip_bad:
                raise ValueError(f"{tsv}:{line}: {why}")
            bad.append(f"{tsv}:{line}: {why}")
            continue
        sup = SupervisionSegment(
            id=rec_id, recording_id=rec_id, start=0.0, duration=rec.duration, text=texts[i]
        )
        if labels is not None:
            setattr(sup, cfg.label_field, labels[i])
        cut = rec.to_cut()
        cut.supervisions = [sup]
        cuts.append(cut)
    if bad:
        logger.warning("skipped %d of %d rows of %s; first: %s", len(bad), len(rows), tsv, bad[0])
    return CutSet.from_cuts(cuts)


def _read_labels(
    d: Path, split: str, tsv: Path, num_rows: int, cfg: FairseqImportConfig
) -> Optional[List[str]]:
    if cfg.label_field is None:
        return None
    path = d / f"{split}.{cfg.label_ext}"
    if not path.is_file():
        raise FileNotFoundError(f"no label file {path} (label_field={cfg.label_field!r})")
    labels = [x.strip() for x in _read_lines(path, tsv, num_rows)]
    for n, x in enumerate(labels, start=1):
        if not x:
            raise ValueError(f"{path}:{n}: empty label")
    return labels


def dictionary_text(lines: Sequence[str]) -> str:
    """A fairseq ``dict.*.txt`` of the whitespace-separated symbols of ``lines``.

    ``symbol count`` per line, most frequent first, ties in symbol order (``Dictionary.finalize``
    without the ``madeupword`` padding that ``fairseq-preprocess`` may add).
    """
    counts = Counter(s for line in lines for s in line.split())
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return "".join(f"{s} {c}\n" for s, c in order)


def _whole_file(cut) -> Tuple[Optional[str], str]:
    """The audio file of a cut that is a whole single-file mono recording, or why not."""
    rec = cut.recording if cut.has_recording else None
    if rec is None:
        return None, "no recording"
    if len(rec.sources) != 1 or rec.sources[0].type != "file":
        return None, "not a single audio file"
    if len(rec.sources[0].channels) != 1:
        return None, f"{len(rec.sources[0].channels)} channels (fairseq averages them)"
    if cut.start > 1e-6 or abs(cut.duration - rec.duration) > 1.0 / rec.sampling_rate:
        return None, f"covers {cut.start:.3f}-{cut.end:.3f} s of a {rec.duration:.3f} s file"
    return rec.sources[0].source, ""


def _text(cut, upper_case: bool) -> str:
    text = " ".join(" ".join(s.text.split()) for s in cut.supervisions if s.text)
    return text.upper() if upper_case else text


def _label(cut, label_field: str) -> str:
    values = {getattr(s, label_field) for s in cut.supervisions}
    if len(values) != 1 or None in values or "" in values:
        raise ValueError(
            f"cut {cut.id}: needs one {label_field} over its supervisions, found {sorted(map(str, values))}"
        )
    return values.pop()


def export_fairseq(
    cuts: CutSet,
    out_dir: Pathlike,
    split: str,
    root: Optional[Pathlike] = None,
    cfg: Optional[FairseqExportConfig] = None,
) -> List[Path]:
    """Write ``cuts`` as fairseq manifests: ``<split>.tsv``, ``.wrd``, ``.ltr``, ``dict.ltr.txt``.

    ``.wrd``/``.ltr``/``dict.ltr.txt`` are written when any cut has text, ``<split>.<label_ext>``
    and ``dict.<label_ext>.txt`` with ``cfg.label_field``. The dictionaries count this split
    only (write the training split last, or keep its dictionaries).

    Args:
        cuts: Whole-recording cuts of single mono audio files.
        out_dir: The fairseq data directory (created if missing).
        split: File stem (``train``, ``valid``...).
        root: First tsv line; default: the deepest folder holding every file.
        cfg: Options; see ``FairseqExportConfig``.

    Returns:
        List[Path]: the files written.

    Raises:
        ValueError: naming the cuts (first 5) that are not whole single-file mono recordings or
            are at another rate than ``cfg.sample_rate``; a cut without one label.
    """
    cfg = cfg or FairseqExportConfig()
    if cfg.label_field is not None and cfg.label_field not in LABEL_FIELDS:
        raise ValueError(f"label_field must be one of {LABEL_FIELDS}, got {cfg.label_field!r}")
    cuts = list(cuts)
    files, bad = [], []
    for cut in cuts:
        path, why = _whole_file(cut)
        if path is None:
            bad.append(f"{cut.id} ({why})")
        elif cfg.sample_rate is not None and cut.sampling_rate != cfg.sample_rate:
            bad.append(f"{cut.id} ({cut.sampling_rate} Hz, expected {cfg.sample_rate})")
        files.append(os.path.abspath(path) if path else "")
    if bad:
        raise ValueError(
            f"{len(bad)} of {len(cuts)} cuts cannot be fairseq rows (a row is a whole mono file "
            f"at the task rate): {', '.join(bad[:5])}"
        )
    if not cuts:
        raise ValueError("no cuts to export")
    root = (
        os.path.abspath(root) if root else os.path.commonpath([os.path.dirname(f) for f in files])
    )
    tsv = [root] + [f"{_relative(f, root)}\t{c.recording.num_samples}" for f, c in zip(files, cuts)]
    out = Path(out_dir)
    written = [_write(out / f"{split}.tsv", tsv)]
    texts = [_text(c, cfg.upper_case) for c in cuts]
    if any(texts):
        ltr = [letters(t) for t in texts]
        written += [_write(out / f"{split}.wrd", texts), _write(out / f"{split}.ltr", ltr)]
        written.append(out / "dict.ltr.txt")
        atomic_write_text(written[-1], dictionary_text(ltr))
    if cfg.label_field is not None:
        labels = [_label(c, cfg.label_field) for c in cuts]
        written.append(_write(out / f"{split}.{cfg.label_ext}", labels))
        written.append(out / f"dict.{cfg.label_ext}.txt")
        atomic_write_text(written[-1], dictionary_text(labels))
    logger.info("wrote %d rows of %s to %s", len(cuts), split, out)
    return written


def _relative(path: str, root: str) -> str:
    """``path`` relative to ``root`` when under it, else absolute (``os.path.join`` keeps it)."""
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _write(path: Path, lines: Sequence[str]) -> Path:
    atomic_write_text(path, "".join(f"{x}\n" for x in lines))
    return path
