"""Training data packed into lhotse Shar shards: large sequential reads instead of one small
file per utterance, for corpora on shared (network) file systems.

    pack_shar("data/fr/manifests/commonvoice_fr_cuts_train.jsonl.gz", "data/fr/shar/train")
    cuts = open_cuts("data/fr/shar/train")       # a Shar directory or a manifest, lazily

A Shar directory holds ``cuts.NNNNNN.jsonl.gz`` and ``recording.NNNNNN.tar`` pairs of
``shard_size`` cuts each: every cut's own audio (a segment of a long recording is cut out)
as 16-bit flac at its recording's rate, so a cut of 16-bit audio (wav, flac, sph) reads the
same samples from the shards as from its file (decoded mp3 / ogg are rounded to 16 bits). ``xlsr.bin.train --train-cuts`` takes such a directory wherever it
takes a manifest (recipes: ``--shar true``).

Reading: the shards come in a shuffled order that changes every epoch; batches are drawn from
the stream as from a lazy manifest. Under torchrun every process reads every shard and keeps
its share of the batches (as with a manifest), so N processes read the audio N times.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Union

from lhotse import CutSet, load_manifest_lazy

from xlsr.utils.argtypes import existing_file

logger = logging.getLogger(__name__)

Pathlike = Union[str, Path]

#: The first cuts shard of a Shar directory (what makes a directory one).
FIRST_SHARD = "cuts.000000.jsonl.gz"


def is_shar_dir(path: Pathlike) -> bool:
    """Whether ``path`` is a directory of Shar shards."""
    return (Path(path) / FIRST_SHARD).is_file()


def cuts_source(text: str) -> str:
    """An argparse ``type``: a cuts manifest file, or a directory of Shar shards."""
    path = Path(text)
    if not path.is_dir():
        return existing_file(text)
    if not is_shar_dir(path):
        raise argparse.ArgumentTypeError(
            f"{text}: a directory without Shar shards (no {FIRST_SHARD}); pass a cuts "
            "manifest or a directory packed by python -m xlsr.bin.pack_shar"
        )
    return text


def open_cuts(path: Pathlike, seed: int = 42) -> CutSet:
    """The cuts of a manifest file or of a Shar directory, lazily (shards in an order shuffled
    with ``seed``, another one each epoch).

    Raises:
        FileNotFoundError: for a directory that holds no Shar shards, naming it and the fix.
    """
    path = Path(path)
    if path.is_dir():
        if not is_shar_dir(path):
            raise FileNotFoundError(
                f"{path} is a directory without Shar shards (no {FIRST_SHARD}): pass a cuts "
                "manifest (*.jsonl.gz), or pack one with python -m xlsr.bin.pack_shar"
            )
        # the shard files by name (lhotse's in_dir would take any other file for a field)
        fields = {
            "cuts": sorted(path.glob("cuts.*.jsonl.gz")),
            "recording": sorted(path.glob("recording.*.tar")),
        }
        if len(fields["recording"]) != len(fields["cuts"]):
            raise FileNotFoundError(
                f"{path}: {len(fields['cuts'])} cuts shards but {len(fields['recording'])} "
                "recording shards (an interrupted packing?): pack it again"
            )
        return CutSet.from_shar(fields=fields, shuffle_shards=True, seed=seed)
    return load_manifest_lazy(path)


def pack_shar(
    cuts_path: Pathlike, out_dir: Pathlike, shard_size: int = 1000, num_jobs: int = 1
) -> int:
    """Writes the cuts of ``cuts_path`` with their audio (flac) as Shar shards in ``out_dir``
    (which must not hold shards already); returns the number of shards.

    Raises:
        ValueError: if ``shard_size`` or ``num_jobs`` is below 1.
        FileExistsError: if ``out_dir`` already holds shards.
    """
    if shard_size < 1 or num_jobs < 1:
        raise ValueError(f"need shard_size >= 1 and num_jobs >= 1, got {shard_size}, {num_jobs}")
    out_dir = Path(out_dir)
    if is_shar_dir(out_dir):
        raise FileExistsError(f"{out_dir} already holds Shar shards: remove it to pack again")
    out_dir.mkdir(parents=True, exist_ok=True)
    shards = load_manifest_lazy(cuts_path).to_shar(
        out_dir,
        fields={"recording": "flac"},
        shard_size=shard_size,
        num_jobs=num_jobs,
        verbose=True,
    )
    n = len(shards["cuts"])
    logger.info("%s: %d Shar shard(s) of up to %d cuts in %s", cuts_path, n, shard_size, out_dir)
    return n
