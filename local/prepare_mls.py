#!/usr/bin/env python3
"""Stage 1 of egs/mls/ASR: lhotse manifests of one Multilingual LibriSpeech language, the
training set restricted to a limited-supervision subset, and the rest of the training
transcripts as LM text.

Usage:
    local/prepare_mls.py --corpus-dir download/mls --lang german \
        --output-dir data/german/manifests --lm-text-dir data/german/lm_text \
        [--audio-format flac|opus] [--train-subset 10h|1h|9h|full] [--num-jobs 8]

``<corpus-dir>/mls_<lang>/`` (flac) or ``<corpus-dir>/mls_<lang>_opus/`` (opus) is the
unpacked OpenSLR 94 archive: per split ``{train,dev,test}/transcripts.txt`` (lines
``<spk>_<book>_<utt> TAB <text>``) and ``audio/<spk>/<book>/<spk>_<book>_<utt>.<flac|opus>``;
``train/limited_supervision/1hr/{0..5}/handles.txt`` and ``.../9hr/handles.txt`` (one
utterance id a line); ``metainfo.txt`` (``SPEAKER | GENDER | ...``, optional here).

Training subsets: ``1h`` = the six 1hr lists together, ``9h`` = the 9hr list, ``10h`` = both
(the XLS-R paper's MLS setting), ``full`` = every line of train/transcripts.txt.

Writes ``mls_<lang>_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz``: recordings
of the audio files at their own rate (16 kHz), one supervision per utterance with ``text`` =
the transcript as MLS gives it (already lower case and normalised), ``speaker`` = its first
field, ``language`` = lang, ``gender`` from metainfo.txt when it is there.

``<lm-text-dir>/<lang>.txt``: the training transcripts outside the subset (empty for
``full``), deduplicated, without any sentence of the subset, dev or test: in-domain text for
the n-gram LM beyond the subset's transcripts, which stage 2 adds itself.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

from xlsr.data.recordings import write_lm_sentences, write_whole_recordings

SPLITS = ("train", "dev", "test")
SUBSETS = ("10h", "1h", "9h", "full")
AUDIO_FORMATS = ("flac", "opus")


def mls_lang_dir(corpus_dir: Path, lang: str, audio_format: str) -> Path:
    """``<corpus_dir>/mls_<lang>`` (flac) or ``<corpus_dir>/mls_<lang>_opus``."""
    return corpus_dir / (f"mls_{lang}" if audio_format == "flac" else f"mls_{lang}_opus")


def read_transcripts(path: Path) -> Dict[str, str]:
    """``{utterance id: text}`` of a ``transcripts.txt``, in the file's order.

    Raises:
        ValueError: naming the file and line, for a line that is not ``<id> TAB <text>``.
    """
    out = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            utt, tab, text = line.rstrip("\n").partition("\t")
            if not line.strip():
                continue
            if not tab or utt.count("_") != 2:
                raise ValueError(
                    f"{path}:{n}: not '<spk>_<book>_<utt><TAB><text>': {line.strip()[:80]!r}"
                )
            out[utt] = text.strip()
    return out


def subset_handles(train_dir: Path, subset: str) -> Optional[Set[str]]:
    """The utterance ids of a training subset (None for ``full``).

    Raises:
        FileNotFoundError: naming a missing ``handles.txt`` (and ``--train-subset full``).
    """
    if subset == "full":
        return None
    root = train_dir / "limited_supervision"
    files = []
    if subset in ("1h", "10h"):
        files += [root / "1hr" / str(n) / "handles.txt" for n in range(6)]
    if subset in ("9h", "10h"):
        files.append(root / "9hr" / "handles.txt")
    handles: Set[str] = set()
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no such file, needed by --train-subset {subset} (the 10h subset is "
                f"9hr/handles.txt plus 1hr/{{0..5}}/handles.txt); unpack the whole archive, "
                f"or use --train-subset full"
            )
        handles.update(h.strip() for h in path.read_text(encoding="utf-8").split() if h.strip())
    return handles


def read_genders(path: Path) -> Dict[str, str]:
    """``{speaker: gender}`` of ``metainfo.txt`` (``|``-separated, a header line); {} when it
    is missing."""
    if not path.is_file():
        return {}
    genders = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) >= 2 and fields[0].isdigit():
            genders[fields[0]] = fields[1]
    return genders


def audio_path(split_dir: Path, utt: str, audio_format: str) -> Path:
    """``<split>/audio/<spk>/<book>/<spk>_<book>_<utt>.<format>``."""
    spk, book, _ = utt.split("_")
    return split_dir / "audio" / spk / book / f"{utt}.{audio_format}"


def split_items(
    texts: Dict[str, str],
    split_dir: Path,
    lang: str,
    audio_format: str,
    genders: Dict[str, str],
) -> List[Tuple[str, str, dict]]:
    """``(utterance id, audio path, supervision fields)`` of one split's utterances.

    Raises:
        FileNotFoundError: naming the first utterance whose audio file is missing.
    """
    items = []
    for utt, text in texts.items():
        path = audio_path(split_dir, utt, audio_format)
        if not path.is_file():
            other = "opus" if audio_format == "flac" else "flac"
            raise FileNotFoundError(
                f"{path}: no audio for utterance {utt} of {split_dir / 'transcripts.txt'}. "
                f"Unpack the whole archive again (a partial download?), or pass "
                f"--audio-format {other} if --corpus-dir holds the {other} release"
            )
        spk = utt.split("_")[0]
        fields = {"text": text, "language": lang, "speaker": spk, "gender": genders.get(spk)}
        items.append((utt, str(path), fields))
    return items


def prepare_mls(
    corpus_dir: Path,
    lang: str,
    out_dir: Path,
    lm_text_dir: Path,
    audio_format: str = "flac",
    train_subset: str = "10h",
    num_jobs: int = 1,
) -> None:
    """Writes the train / dev / test manifests and the LM text (see the module docstring).

    Raises:
        ValueError: for an unknown ``audio_format`` or ``train_subset``, a malformed
            transcripts line, or a subset id that train/transcripts.txt lacks.
        FileNotFoundError: for a missing handles.txt or audio file (naming it).
    """
    if audio_format not in AUDIO_FORMATS or train_subset not in SUBSETS:
        raise ValueError(
            f"audio_format must be one of {AUDIO_FORMATS} and train_subset one of {SUBSETS}, "
            f"got {audio_format!r}, {train_subset!r}"
        )
    lang_dir = mls_lang_dir(corpus_dir, lang, audio_format)
    texts = {split: read_transcripts(lang_dir / split / "transcripts.txt") for split in SPLITS}
    handles = subset_handles(lang_dir / "train", train_subset)
    all_train = texts["train"]
    if handles is not None:
        unknown = sorted(handles - all_train.keys())
        if unknown:
            raise ValueError(
                f"{lang_dir / 'train/limited_supervision'}: {len(unknown)} id(s) of the "
                f"{train_subset} subset are not in {lang_dir / 'train/transcripts.txt'} "
                f"(first: {unknown[0]}); are the lists and transcripts from one release?"
            )
        texts["train"] = {u: t for u, t in all_train.items() if u in handles}
    logging.info(
        "train: %d of %d utterances (--train-subset %s); dev %d, test %d",
        len(texts["train"]),
        len(all_train),
        train_subset,
        len(texts["dev"]),
        len(texts["test"]),
    )
    genders = read_genders(lang_dir / "metainfo.txt")
    items = {  # every audio file checked before anything is written
        split: split_items(texts[split], lang_dir / split, lang, audio_format, genders)
        for split in SPLITS
    }
    for split in SPLITS:
        write_whole_recordings(items[split], out_dir, f"mls_{lang}", split, num_jobs)
    rest = [t for u, t in all_train.items() if u not in texts["train"]]
    write_lm_text(lm_text_dir / f"{lang}.txt", rest, [texts[s] for s in SPLITS])


def write_lm_text(path: Path, sentences: List[str], used: List[Dict[str, str]]) -> None:
    """``sentences`` deduplicated and without any text of ``used``, one a line."""
    n, _ = write_lm_sentences(path, sentences, (t for texts in used for t in texts.values()))
    logging.info(
        "%s: %d training sentences outside the subset (%d duplicates or in a split dropped)",
        path,
        n,
        len(sentences) - n,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="holds mls_<lang>[_opus]/")
    p.add_argument("--lang", required=True, help="the archive's language, e.g. german")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--lm-text-dir", required=True, type=Path, help="gets <lang>.txt")
    p.add_argument("--audio-format", default="flac", choices=AUDIO_FORMATS)
    p.add_argument("--train-subset", default="10h", choices=SUBSETS)
    p.add_argument("--num-jobs", type=int, default=1)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        prepare_mls(
            a.corpus_dir,
            a.lang,
            a.output_dir,
            a.lm_text_dir,
            a.audio_format,
            a.train_subset,
            a.num_jobs,
        )
    except (ValueError, FileNotFoundError) as err:  # the corpus is not as expected: say where
        sys.exit(f"local/prepare_mls.py: ERROR: {err}")


if __name__ == "__main__":
    main()
