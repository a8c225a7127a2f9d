"""Speaker-ID splits of a corpus with speaker labels: identification on held-out
utterances of the training speakers, verification trials on unseen speakers.

    split   what                                                     used for
    train   the training speakers' utterances, less the held out     training the classifier
    dev     ``dev_fraction`` of each training speaker's utterances    validation
    test    ``test_fraction`` of each training speaker's utterances   identification accuracy
    veri    every utterance of the other (unseen) speakers            verification trials

The trials (:func:`make_trials`) pair utterances of the verification speakers, in the
format of :mod:`xlsr.scoring.verification`: ``<1|0> <enrolment cut id> <test cut id>``
a line. Everything is a function of the cut ids and the seed.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from typing import Dict, Iterable, List, Tuple

import numpy as np


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)])


def _speaker(cut) -> str:
    if not cut.supervisions or not cut.supervisions[0].speaker:
        raise ValueError(f"cut {cut.id}: no supervision with a speaker")
    return cut.supervisions[0].speaker


def identification_splits(
    cuts: Iterable, test_fraction: float = 0.1, dev_fraction: float = 0.05, seed: int = 0
) -> Dict[str, List]:
    """Splits the training speakers' cuts into train / dev / test (each speaker in all three,
    at least one test and one dev utterance per speaker with >= 3 utterances).

    Returns:
        dict: split name -> list of cuts, each in the input order.
    """
    if not (0 < test_fraction < 1 and 0 <= dev_fraction < 1 and test_fraction + dev_fraction < 1):
        raise ValueError(f"bad fractions: test {test_fraction}, dev {dev_fraction}")
    cuts = list(cuts)
    by_speaker: Dict[str, List[str]] = defaultdict(list)
    for cut in cuts:
        by_speaker[_speaker(cut)].append(cut.id)
    which: Dict[str, str] = {}
    for spk, ids in sorted(by_speaker.items()):
        order = _rng(seed, spk).permutation(len(ids))
        n_test = max(1, math.ceil(test_fraction * len(ids))) if len(ids) >= 3 else 0
        n_dev = max(1, math.ceil(dev_fraction * len(ids))) if len(ids) >= 3 and dev_fraction else 0
        for rank, i in enumerate(order):
            which[ids[i]] = "test" if rank < n_test else "dev" if rank < n_test + n_dev else "train"
    out: Dict[str, List] = {"train": [], "dev": [], "test": []}
    for cut in cuts:
        out[which[cut.id]].append(cut)
    return out


def make_trials(
    cuts: Iterable, targets_per_utt: int = 5, nontargets_per_utt: int = 5, seed: int = 0
) -> List[Tuple[int, str, str]]:
    """Verification trials among ``cuts``: for each utterance as enrolment, up to
    ``targets_per_utt`` other utterances of its speaker and ``nontargets_per_utt`` of other
    speakers, drawn without replacement; each unordered pair once.

    Returns:
        list of (1 for a target trial else 0, enrolment id, test id), sorted.
    """
    ids_of: Dict[str, List[str]] = defaultdict(list)
    for cut in cuts:
        ids_of[_speaker(cut)].append(cut.id)
    if len(ids_of) < 2:
        raise ValueError(f"trials need at least 2 speakers, got {sorted(ids_of)}")
    everyone = sorted((i, s) for s, ids in ids_of.items() for i in ids)
    seen, trials = set(), []
    for enrol, spk in everyone:
        rng = _rng(seed, enrol)
        same = [i for i in ids_of[spk] if i != enrol]
        other = [i for i, s in everyone if s != spk]
        for target, pool, k in ((1, same, targets_per_utt), (0, other, nontargets_per_utt)):
            for j in rng.permutation(len(pool))[:k]:
                pair = tuple(sorted((enrol, pool[j])))
                if pair not in seen:
                    seen.add(pair)
                    trials.append((target, *pair))
    return sorted(trials)


def write_trials(trials: Iterable[Tuple[int, str, str]], path) -> None:
    """Writes ``<1|0> <enrolment id> <test id>`` lines (atomically)."""
    from xlsr.utils.io import atomic_write_text

    atomic_write_text(path, "".join(f"{t} {a} {b}\n" for t, a, b in trials))
