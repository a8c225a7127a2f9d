#!/usr/bin/env python3
"""Stage 1 of egs/voxceleb1/SID: lhotse manifests of VoxCeleb1's identification split and
its verification trials.

Usage:
    local/prepare_voxceleb1.py --corpus-dir download/voxceleb1 \
        --iden-split download/voxceleb1/iden_split.txt \
        [--trials download/voxceleb1/veri_test2.txt] --output-dir data/manifests [--num-jobs 8]

The corpus holds ``wav/<speaker id1xxxx>/<YouTube id>/NNNNN.wav`` (16 kHz mono). The
identification split (``iden_split.txt``) has lines ``<1|2|3> id10001/1zcIwhmdeo4/00001.wav``
(1 train, 2 dev, 3 test); the trials (``veri_test2.txt``) lines
``<1|0> <enrol path> <test path>``. Writes, in the output directory:

- voxceleb1_{recordings,supervisions,cuts}_{train,dev,test}.jsonl.gz: the split's utterances;
  the supervision's ``speaker`` is the id1xxxx directory;
- with ``--trials``: voxceleb1_{recordings,supervisions,cuts}_veri.jsonl.gz, the utterances
  the trials name (each once), and voxceleb1_trials_veri.txt, the trials with cut ids
  (``<1|0> <enrol cut id> <test cut id>``, xlsr.scoring.verification's format).

A cut id is the path with '/' as '-' and no ``.wav``: ``id10001-1zcIwhmdeo4-00001``. The
verification speakers (id10270-id10309) are in the identification split's train set too;
the trials get their own manifest so that their embeddings come from the trained model
whatever split holds the files.
"""

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from xlsr.data.recordings import write_whole_recordings

PREFIX = "voxceleb1"
SPLITS = {"1": "train", "2": "dev", "3": "test"}


def cut_id(rel_path: str) -> str:
    """``id10001/1zcIwhmdeo4/00001.wav`` -> ``id10001-1zcIwhmdeo4-00001``.

    Raises:
        ValueError: naming the path, when it is not ``<speaker>/<video>/<name>.wav``.
    """
    parts = rel_path.split("/")
    if len(parts) != 3 or not parts[0].startswith("id") or not parts[2].endswith(".wav"):
        raise ValueError(f"expected <id1xxxx>/<YouTube id>/NNNNN.wav, got '{rel_path}'")
    return "-".join(parts)[: -len(".wav")]


def read_iden_split(path: Path) -> Dict[str, List[str]]:
    """The relative wav paths of train / dev / test in ``iden_split.txt``, in file order.

    Raises:
        ValueError: naming the file and line, for a line that is not ``<1|2|3> <path>``.
    """
    splits: Dict[str, List[str]] = {name: [] for name in SPLITS.values()}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or fields[0] not in SPLITS:
            raise ValueError(
                f"{path}:{n}: expected '<1|2|3> id1xxxx/<video>/NNNNN.wav', got {line!r}"
            )
        cut_id(fields[1])
        splits[SPLITS[fields[0]]].append(fields[1])
    return splits


def read_trials(path: Path) -> List[Tuple[str, str, str]]:
    """(label, enrol path, test path) of each line of ``veri_test2.txt``.

    Raises:
        ValueError: naming the file and line, for a line that is not ``<1|0> <path> <path>``.
    """
    trials = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 3 or fields[0] not in ("0", "1"):
            raise ValueError(f"{path}:{n}: expected '<1|0> <enrol wav> <test wav>', got {line!r}")
        cut_id(fields[1]), cut_id(fields[2])
        trials.append((fields[0], fields[1], fields[2]))
    return trials


def check_files(wav_dir: Path, rel_paths: List[str], source: Path) -> None:
    """Raises ValueError naming up to 5 files of ``source`` that are not under ``wav_dir``."""
    missing = [p for p in rel_paths if not (wav_dir / p).is_file()]
    if missing:
        raise ValueError(
            f"{len(missing)} of the {len(rel_paths)} files that {source} names are not in "
            f"{wav_dir}, e.g. {', '.join(missing[:5])}"
        )


def write_split(
    wav_dir: Path, rel_paths: List[str], out_dir: Path, split: str, num_jobs: int
) -> None:
    """Recordings, supervisions (speaker = the first path component) and cuts, written lazily."""
    items = [(rel, str(wav_dir / rel)) for rel in rel_paths]
    fields = [(cut_id(rel), path, {"speaker": rel.split("/")[0]}) for rel, path in items]
    write_whole_recordings(fields, out_dir, PREFIX, split, num_jobs)
    logging.info("%s: %d utterances", split, len(items))


def prepare_voxceleb1(
    corpus_dir: Path,
    iden_split: Path,
    out_dir: Path,
    trials: Optional[Path] = None,
    num_jobs: int = 1,
) -> None:
    """Writes the manifests and trials of the module docstring into ``out_dir``."""
    wav_dir = corpus_dir / "wav"
    splits = read_iden_split(iden_split)
    empty = [name for name, paths in splits.items() if not paths]
    if empty:
        raise ValueError(f"{iden_split}: no utterance of split {', '.join(empty)}")
    check_files(wav_dir, [p for paths in splits.values() for p in paths], iden_split)
    veri = read_trials(trials) if trials else []
    veri_files = list(dict.fromkeys(p for _, a, b in veri for p in (a, b)))
    if trials:
        check_files(wav_dir, veri_files, trials)
        splits["veri"] = veri_files
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, paths in splits.items():
        write_split(wav_dir, paths, out_dir, split, num_jobs)
    if trials:
        lines = "".join(f"{t} {cut_id(a)} {cut_id(b)}\n" for t, a, b in veri)
        (out_dir / f"{PREFIX}_trials_veri.txt").write_text(lines)
        logging.info("veri: %d trials of %d utterances", len(veri), len(veri_files))
    speakers = {p.split("/")[0] for p in splits["train"]}
    logging.info("%d speakers in train", len(speakers))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus-dir", required=True, type=Path, help="holds wav/id1xxxx/...")
    p.add_argument("--iden-split", required=True, type=Path, help="iden_split.txt")
    p.add_argument("--trials", type=Path, default=None, help="veri_test2.txt (optional)")
    p.add_argument("--output-dir", required=True, type=Path)
    p.add_argument("--num-jobs", type=int, default=1)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_voxceleb1(a.corpus_dir, a.iden_split, a.output_dir, a.trials, a.num_jobs)


if __name__ == "__main__":
    main()
