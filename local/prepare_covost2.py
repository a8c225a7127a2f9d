#!/usr/bin/env python3
"""Stage 1 of egs/covost2/ST: lhotse manifests and translation-pair cuts of one CoVoST 2
direction (Common Voice v4 clips + the CoVoST 2 translation TSVs).

Usage:
    local/prepare_covost2.py --corpus-dir download/cv4 --covost-dir download/covost2 \
        --direction x-en --langs "fr de" --output-dir data/manifests [--num-jobs 8]
    local/prepare_covost2.py ... --direction en-x --langs "de ca zh-CN"

Inputs, as ``get_covost_splits.py`` of github.com/facebookresearch/covost reads them:
``<covost-dir>/covost_v2.<src>_<tgt>.tsv`` (from ``covost_v2.<src>_<tgt>.tsv.tar.gz``; a
header line, tab-separated, columns ``path``, ``translation``, ``split`` read by name) and
``<corpus-dir>/<src>/validated.tsv`` of Common Voice v4 (``path``, ``sentence``,
``client_id``): a clip is in the corpus when its ``path`` is in both (an inner join; the
transcript and speaker come from Common Voice). Splits: ``train`` is CoVoST's ``train`` plus
``train_covost`` rows (its extended Common Voice train split), ``dev`` and ``test`` are the
rows of that split; rows of any other split value are left out (counted).

Writes to ``--output-dir``, per split (train, dev, test):
``covost2_<direction>_{recordings,supervisions,cuts}_<split>.jsonl.gz``: each clip once (an
English clip shared by several en-x targets is scanned once), at its own rate (48 kHz mp3;
the data loader resamples to 16 kHz), with one supervision: ``text`` = the sentence through
the toolkit's text normaliser, ``language`` = the source, ``speaker`` = client_id, and
``custom`` ``translation`` (x-en) or ``translations`` {target: text} (en-x), verbatim;
``st_cuts_<split>_<direction>.jsonl.gz``: the translation pairs made from those cuts by
``xlsr.data.translation.st_pairs`` (one cut per clip and target language, ids
``<clip>_<tgt>``, supervision custom ``tgt_lang`` and ``target``), written one at a time.
Rows whose sentence normalises to nothing, whose translation is empty or whose clip is
missing are left out and counted in the log.
"""

import argparse
import logging
from collections import Counter
from pathlib import Path
from typing import Dict, Sequence, Tuple

from lhotse import CutSet

from xlsr.data.recordings import read_header_tsv, write_whole_recordings
from xlsr.data.text_norm import TextNormalizer
from xlsr.data.translation import st_pairs

#: CoVoST 2's 21 X -> En sources and 15 En -> X targets (its README and get_covost_splits.py)
X_EN = [
    "fr",
    "de",
    "es",
    "ca",
    "it",
    "ru",
    "zh-CN",
    "pt",
    "fa",
    "et",
    "mn",
    "nl",
    "tr",
    "ar",
    "sv-SE",
    "lv",
    "sl",
    "ta",
    "ja",
    "id",
    "cy",
]
EN_X = [
    "de",
    "ca",
    "zh-CN",
    "fa",
    "et",
    "mn",
    "tr",
    "ar",
    "sv-SE",
    "lv",
    "sl",
    "ta",
    "ja",
    "id",
    "cy",
]
#: our split -> CoVoST 2 split values (get_covost_splits.py: train is train + train_covost)
SPLITS = {"train": ("train", "train_covost"), "dev": ("dev",), "test": ("test",)}
Item = Tuple[str, str, Dict]  # (clip id, mp3 path, supervision fields)


def split_of(value: str) -> str:
    """Our split of a CoVoST ``split`` value ("" for none of them)."""
    return next((ours for ours, theirs in SPLITS.items() if value in theirs), "")


class Collector:
    """Clips of one direction, per split, with their supervision fields."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self.normalize = TextNormalizer()
        self.items: Dict[str, Dict[str, Item]] = {s: {} for s in SPLITS}
        self.split: Dict[str, str] = {}  # clip id -> split
        self.dropped: Counter = Counter()

    def add(self, tsv: Path, src: str, tgt: str, validated: Dict[str, Dict[str, str]]) -> None:
        """The rows of one CoVoST TSV (``<src>_<tgt>``) joined with Common Voice's."""
        for row in read_header_tsv(tsv, ("path", "translation", "split"), escaped=True):
            split = split_of(row["split"])
            cv = validated.get(row["path"])
            translation = (row["translation"] or "").strip()
            clip_id, path = Path(row["path"]).stem, self.corpus_dir / src / "clips" / row["path"]
            why = (
                (not split and f"split {row['split']!r}")
                or (cv is None and "not in validated.tsv")
                or (not translation and "empty translation")
                or (self.split.get(clip_id, split) != split and "in two splits")
            )
            if why:
                self.dropped[f"{src}_{tgt}: {why}"] += 1
                continue
            if clip_id not in self.items[split]:
                text = self.normalize(cv["sentence"] or "")
                if not text or not path.is_file():
                    self.dropped[f"{src}: {'no text' if not text else 'no clip'}"] += 1
                    continue
                fields = {"text": text, "language": src, "speaker": cv["client_id"], "custom": {}}
                self.items[split][clip_id] = (clip_id, str(path), fields)
                self.split[clip_id] = split
            custom = self.items[split][clip_id][2]["custom"]
            if tgt == "en":
                custom["translation"] = translation
            else:
                custom.setdefault("translations", {})[tgt] = translation


def validated_rows(corpus_dir: Path, lang: str) -> Dict[str, Dict[str, str]]:
    """clip file name -> {sentence, client_id} of ``<corpus_dir>/<lang>/validated.tsv``."""
    path = corpus_dir / lang / "validated.tsv"
    rows = read_header_tsv(path, ("path", "sentence", "client_id"))
    return {r["path"]: {"sentence": r["sentence"], "client_id": r["client_id"]} for r in rows}


def prepare_covost2(
    corpus_dir: Path,
    covost_dir: Path,
    direction: str,
    langs: Sequence[str],
    out_dir: Path,
    num_jobs: int = 1,
) -> None:
    """Writes the manifests and pairs of ``direction`` (see the module docstring)."""
    known = X_EN if direction == "x-en" else EN_X
    unknown = [lang for lang in langs if lang not in known]
    if direction not in ("x-en", "en-x") or not langs or unknown:
        raise ValueError(
            f"direction {direction!r}, languages {list(langs)}: CoVoST 2 has x-en {X_EN}, en-x {EN_X}"
        )
    collect = Collector(corpus_dir)
    if direction == "x-en":
        for src in langs:
            collect.add(
                covost_dir / f"covost_v2.{src}_en.tsv", src, "en", validated_rows(corpus_dir, src)
            )
    else:
        english = validated_rows(corpus_dir, "en")
        for tgt in langs:
            collect.add(covost_dir / f"covost_v2.en_{tgt}.tsv", "en", tgt, english)
    for why, n in sorted(collect.dropped.items()):
        logging.warning("left out %d row(s) of %s", n, why)
    prefix = f"covost2_{direction}"
    for split, items in collect.items.items():
        write_whole_recordings(list(items.values()), out_dir, prefix, split, num_jobs)
        n = 0
        with CutSet.open_writer(out_dir / f"st_cuts_{split}_{direction}.jsonl.gz") as pairs:
            for cut in CutSet.from_jsonl_lazy(out_dir / f"{prefix}_cuts_{split}.jsonl.gz"):
                for pair in st_pairs(CutSet.from_cuts([cut]), direction):
                    pairs.write(pair)
                    n += 1
        logging.info("%s %s: %d clips, %d pairs", direction, split, len(items), n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="Common Voice v4: <lang>/clips")
    p.add_argument("--covost-dir", required=True, type=Path, help="covost_v2.<src>_<tgt>.tsv")
    p.add_argument("--direction", required=True, choices=["x-en", "en-x"])
    p.add_argument("--langs", required=True, help="sources (x-en) or targets (en-x), spaced")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--num-jobs", type=int, default=1, help="processes reading mp3 headers")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_covost2(
        a.corpus_dir, a.covost_dir, a.direction, a.langs.split(), a.output_dir, a.num_jobs
    )


if __name__ == "__main__":
    main()
