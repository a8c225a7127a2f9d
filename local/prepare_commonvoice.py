#!/usr/bin/env python3
"""Stage 1 of egs/commonvoice/ASR: lhotse manifests of one Common Voice language, and its
extra LM text.

Usage:
    local/prepare_commonvoice.py --corpus-dir download/commonvoice --lang fr \
        --output-dir data/fr/manifests --lm-text-dir data/fr/lm_text [--num-jobs 8]
    local/prepare_commonvoice.py --unit phone --corpus-dir download/commonvoice --lang fr \
        --phone-dir download/common_voices_splits/fr --phone-hours 1 \
        --output-dir data/fr_phone1h/manifests --phones-table data/fr_phone1h/phones.txt

``<corpus-dir>/<lang>/`` holds ``clips/*.mp3`` (48 kHz) and ``train.tsv``, ``dev.tsv``,
``test.tsv``, ``validated.tsv``: a header line, then tab-separated rows. Columns are read by
their header names (``path``, ``sentence``, ``client_id``, ``gender``), so releases with more
columns (``variant``, ``sentence_id``...) read the same. Fields are never quoted: a sentence
may start with ``"``.

Writes ``commonvoice_<lang>_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz``:
recordings of the mp3 files at their own rate (the data loader resamples to 16 kHz with
``xlsr.data.audio.resample_waveform``); one supervision per clip with ``text`` = the sentence
through the toolkit's text normaliser (default ``TextNormConfig``), ``speaker`` = client_id,
``language`` = lang, ``gender`` when given. Rows whose sentence normalises to nothing are
skipped (counted in the log).

``<lm-text-dir>/<lang>.txt``: the validated sentences in none of train, dev and test
(normalised, deduplicated): in-domain text for the n-gram LM beyond the training
transcripts, which stage 2 adds itself; no dev or test sentence is in it.

``--unit phone`` (the few-shot phoneme recognition of XLSR-53 / XLS-R, after Rivière et al.
2020): the splits and transcriptions are CPC_audio's (``common_voices_splits.tar.gz``; per
language ``validated_phones_reduced.txt`` with lines ``<seq name> <phone id>...`` and the
lists ``trainSeqs_<h>.0_uniform_new_version.txt``, ``testSeqs_uniform_new_version.txt``).
train = the ``--phone-hours`` train list, test = the test list, dev = the train list again
(as CPC_audio's README passes it as ``--pathVal``: the labelled hour is all training data, and
no list of held-out validation clips is named there); a train/test overlap is an error. The
supervision text is the phone sequence, each phone one "word" of one lowercase letter
(:func:`phone_symbols`: id 0 -> ``a`` ... 25 -> ``z``, then Greek, then Cyrillic letters; all
unchanged by the text normaliser), so that a ``char`` lang dir has one letter per phone and
the WER over these words is the phone error rate. ``--phones-table`` gets ``<symbol> <id>``
per phone id of the phone file. A listed clip without phones or without its mp3 is skipped
and counted; more than ``--max-missing`` of a list skipped is an error. Speakers and gender
come from the release's TSVs when they name the clip, else the speaker is the clip's name.
"""

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from xlsr.data.recordings import read_header_tsv, write_lm_sentences, write_whole_recordings
from xlsr.data.text_norm import TextNormalizer
from xlsr.utils.io import atomic_write_text

SPLITS = ("train", "dev", "test")
NEEDED = ("client_id", "path", "sentence")


def write_split(
    rows: List[Dict[str, str]],
    clips: Path,
    out_dir: Path,
    prefix: str,
    split: str,
    lang: str,
    num_jobs: int,
) -> None:
    """Recordings, supervisions and cuts of one split's rows, written one item at a time."""
    normalize = TextNormalizer()
    kept = [(r, normalize(r["sentence"] or "")) for r in rows]
    kept = [(r, text) for r, text in kept if text]
    items = [
        (
            Path(row["path"]).stem,
            str(clips / row["path"]),
            {
                "text": text,
                "language": lang,
                "speaker": row["client_id"],
                "gender": row.get("gender") or None,
            },
        )
        for row, text in kept
    ]
    write_whole_recordings(items, out_dir, prefix, split, num_jobs)
    logging.info("%s: %d clips (%d without text skipped)", split, len(kept), len(rows) - len(kept))


def prepare_commonvoice(
    corpus_dir: Path, lang: str, out_dir: Path, lm_text_dir: Path, num_jobs: int = 1
) -> None:
    """Writes the train / dev / test manifests and the LM text (see the module docstring)."""
    lang_dir = corpus_dir / lang
    split_rows = {split: read_header_tsv(lang_dir / f"{split}.tsv", NEEDED) for split in SPLITS}
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = f"commonvoice_{lang}"
    for split, rows in split_rows.items():
        write_split(rows, lang_dir / "clips", out_dir, prefix, split, lang, num_jobs)
    normalize = TextNormalizer()
    used = {normalize(r["sentence"] or "") for rows in split_rows.values() for r in rows}
    validated = lang_dir / "validated.tsv"
    rows = read_header_tsv(validated, NEEDED) if validated.exists() else []
    sentences = (normalize(row["sentence"] or "") for row in rows)
    kept, _ = write_lm_sentences(lm_text_dir / f"{lang}.txt", sentences, used)
    logging.info("%s: %d validated sentences in no split", lm_text_dir / f"{lang}.txt", kept)


# --------------------------------------------------------------------- --unit phone
PHONE_FILE = "validated_phones_reduced.txt"
TEST_LIST = "testSeqs_uniform_new_version.txt"


def train_list(hours: int) -> str:
    """CPC_audio's train list of ``hours`` (1 or 5)."""
    return f"trainSeqs_{hours:.1f}_uniform_new_version.txt"


def phone_symbols() -> List[str]:
    """The fixed phone id -> symbol table: a-z, Greek alpha-omega (without final sigma,
    which case folding turns into sigma), Cyrillic a-ya: 82 lowercase letters, each its own
    NFC form and case folding, so the text normaliser leaves them as they are."""
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    letters += [chr(c) for c in range(0x3B1, 0x3CA) if c != 0x3C2]
    letters += [chr(c) for c in range(0x430, 0x450)]
    return letters


def read_phones(path: Path) -> Dict[str, List[int]]:
    """``validated_phones_reduced.txt``: seq name -> phone ids.

    Raises:
        ValueError: naming the file and line, for a line without phones or a non-integer id.
    """
    phones = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not all(f.isdigit() for f in fields[1:]):
            raise ValueError(f"{path}:{n}: expected '<seq name> <phone id>...', got {line!r}")
        phones[fields[0]] = [int(f) for f in fields[1:]]
    return phones


def read_list(path: Path) -> List[str]:
    """A CPC split list: one seq name per line (duplicates dropped, order kept)."""
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return list(dict.fromkeys(n for n in names if n))


def clip_speakers(lang_dir: Path) -> Dict[str, Tuple[str, str]]:
    """Clip name (no extension) -> (client_id, gender) from whichever TSVs the release has."""
    speakers = {}
    for name in ("validated", "train", "dev", "test", "other", "invalidated"):
        if (lang_dir / f"{name}.tsv").exists():
            for row in read_header_tsv(lang_dir / f"{name}.tsv", NEEDED):
                speakers[Path(row["path"]).stem] = (row["client_id"], row.get("gender") or "")
    return speakers


def phone_items(
    seqs: Sequence[str],
    phones: Dict[str, List[int]],
    clips: Path,
    speakers: Dict[str, Tuple[str, str]],
    lang: str,
    list_path: Path,
    max_missing: float,
) -> List[tuple]:
    """The ``write_whole_recordings`` items of a list's clips that have phones and an mp3.

    Raises:
        ValueError: when more than ``max_missing`` of the list is skipped (naming examples).
    """
    symbols = phone_symbols()
    items, missing = [], []
    for seq in seqs:
        path = clips / f"{seq}.mp3"
        if seq not in phones or not path.exists():
            missing.append(f"{seq} ({'no phones' if seq not in phones else 'no ' + str(path)})")
            continue
        speaker, gender = speakers.get(seq, (seq, ""))
        text = " ".join(symbols[i] for i in phones[seq])
        fields = {"text": text, "language": lang, "speaker": speaker, "gender": gender or None}
        items.append((seq, str(path), fields))
    if missing:
        logging.warning(
            "%s: %d of %d clips skipped (no phones in %s or no mp3), e.g. %s",
            list_path,
            len(missing),
            len(seqs),
            PHONE_FILE,
            ", ".join(missing[:3]),
        )
    if not seqs or len(missing) > max_missing * len(seqs):
        raise ValueError(
            f"{list_path}: {len(missing)} of {len(seqs)} clips have no phones or no mp3 in "
            f"{clips} (more than --max-missing {max_missing}), e.g. {', '.join(missing[:3])}: "
            "are --corpus-dir and --phone-dir the same language, and the clips of a release "
            "that has them?"
        )
    return items


def prepare_commonvoice_phones(
    corpus_dir: Path,
    lang: str,
    phone_dir: Path,
    hours: int,
    out_dir: Path,
    phones_table: Path,
    num_jobs: int = 1,
    max_missing: float = 0.05,
) -> None:
    """Writes the train / dev / test manifests of the phone setting (module docstring).

    Raises:
        ValueError: for a train/test overlap, a phone id beyond the symbol table, or too
            many clips missing.
    """
    phones = read_phones(phone_dir / PHONE_FILE)
    symbols = phone_symbols()
    n_ids = 1 + max((max(ids) for ids in phones.values()), default=-1)
    if n_ids > len(symbols):
        raise ValueError(
            f"{phone_dir / PHONE_FILE}: phone ids up to {n_ids - 1}, more than "
            f"the {len(symbols)} symbols of the table"
        )
    lists = {"train": phone_dir / train_list(hours), "test": phone_dir / TEST_LIST}
    seqs = {split: read_list(path) for split, path in lists.items()}
    both = set(seqs["train"]) & set(seqs["test"])
    if both:
        raise ValueError(
            f"{len(both)} clips in both {lists['train']} and {lists['test']}, "
            f"e.g. {sorted(both)[:3]}"
        )
    lang_dir = corpus_dir / lang
    speakers = clip_speakers(lang_dir)
    prefix = f"commonvoice_{lang}"
    for split in ("train", "dev", "test"):
        src = "train" if split == "dev" else split  # dev = the train list (docstring)
        items = phone_items(
            seqs[src], phones, lang_dir / "clips", speakers, lang, lists[src], max_missing
        )
        write_whole_recordings(items, out_dir, prefix, split, num_jobs)
        logging.info("%s: %d clips from %s", split, len(items), lists[src].name)
    table = "".join(f"{symbols[i]} {i}\n" for i in range(n_ids))
    atomic_write_text(phones_table, table)
    logging.info("%s: %d phone ids (a hypothesis' words map back through it)", phones_table, n_ids)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="holds <lang>/clips, *.tsv")
    p.add_argument("--lang", required=True, help="the language's directory, e.g. fr")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--unit", choices=("word", "phone"), default="word")
    p.add_argument("--lm-text-dir", type=Path, help="gets <lang>.txt (--unit word)")
    p.add_argument("--num-jobs", type=int, default=1)
    p.add_argument("--phone-dir", type=Path, help="CPC_audio's <lang> dir (--unit phone)")
    p.add_argument("--phone-hours", type=int, choices=(1, 5), default=1)
    p.add_argument("--phones-table", type=Path, help="gets '<symbol> <id>' lines (--unit phone)")
    p.add_argument("--max-missing", type=float, default=0.05, help="fraction of a list")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if a.unit == "phone":
        if a.phone_dir is None or a.phones_table is None:
            p.error("--unit phone needs --phone-dir and --phones-table")
        prepare_commonvoice_phones(
            a.corpus_dir,
            a.lang,
            a.phone_dir,
            a.phone_hours,
            a.output_dir,
            a.phones_table,
            a.num_jobs,
            a.max_missing,
        )
    else:
        if a.lm_text_dir is None:
            p.error("--unit word needs --lm-text-dir")
        prepare_commonvoice(a.corpus_dir, a.lang, a.output_dir, a.lm_text_dir, a.num_jobs)


if __name__ == "__main__":
    main()
