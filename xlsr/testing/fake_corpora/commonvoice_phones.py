"""A fake CPC_audio phone directory (``common_voices_splits.tar.gz``) for fake Common Voice
clips.

The CPC_audio release (Rivière et al., 2020; used by XLSR-53 and XLS-R for Common Voice
phoneme recognition) has per language ``<lang>/validated_phones_reduced.txt`` (lines
``<seq name> <phone id> <phone id> ...``, integer ids, seq name = the mp3's basename without
extension) and split lists ``trainSeqs_1.0_uniform_new_version.txt`` (1 h),
``trainSeqs_5.0_uniform_new_version.txt`` (5 h) and ``testSeqs_uniform_new_version.txt``, one
seq name per line. Its splits are its own, not the release's train/dev/test TSVs.

Example:
    >>> clips = write_commonvoice(tmp_path / "cv", "fr", 3)
    >>> phones = write_commonvoice_phones(tmp_path / "splits", "fr", clips)
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Union

Pathlike = Union[str, Path]
PHONE_FILE = "validated_phones_reduced.txt"
TEST_LIST = "testSeqs_uniform_new_version.txt"


def train_list_name(hours: int) -> str:
    """The CPC train list of ``hours`` (1 or 5): ``trainSeqs_<hours>.0_uniform_new_version.txt``."""
    return f"trainSeqs_{hours:.1f}_uniform_new_version.txt"


def write_commonvoice_phones(
    root: Pathlike,
    lang: str,
    clips: Sequence[Pathlike],
    n_train_1h: int = 4,
    n_train_5h: int = 6,
    n_test: int = 3,
    n_phones: int = 40,
) -> Dict[str, List[int]]:
    """Write ``<root>/<lang>/`` as CPC_audio's release has it, for ``clips`` (mp3 paths).

    Every clip gets a phone sequence (3-6 ids below ``n_phones``; more than 26, so that a
    symbol table must go beyond a-z). The 1 h train list is the first ``n_train_1h`` clips,
    the 5 h list the first ``n_train_5h`` (a superset), the test list the last ``n_test``
    clips, disjoint from both train lists. Lists are not sorted by split of the release.

    Args:
        root: The directory of all languages (``common_voices_splits``; created if missing).
        lang: The language's directory name, e.g. ``fr``.
        clips: The mp3 files (e.g. what ``write_commonvoice`` returned).
        n_train_1h, n_train_5h, n_test: Clips in each list.
        n_phones: Distinct phone ids.

    Returns:
        dict: seq name -> phone ids, as written to ``validated_phones_reduced.txt``.

    Raises:
        ValueError: if the lists do not fit in ``clips`` or ``n_phones`` is below 1.
    """
    names = [Path(c).stem for c in clips]
    if n_phones < 1 or n_train_1h > n_train_5h or n_train_5h + n_test > len(names):
        raise ValueError(
            f"need n_phones >= 1 and n_train_1h <= n_train_5h <= {len(names)} - n_test, got "
            f"{n_phones}, {n_train_1h}, {n_train_5h}, {n_test}"
        )
    out = Path(root) / lang
    out.mkdir(parents=True, exist_ok=True)
    phones = {
        name: [(i * 7 + k * 11) % n_phones for k in range(3 + i % 4)]
        for i, name in enumerate(names)
    }
    lines = [f"{name} {' '.join(map(str, ids))}\n" for name, ids in phones.items()]
    (out / PHONE_FILE).write_text("".join(lines), encoding="utf-8")
    lists = {
        train_list_name(1): names[:n_train_1h],
        train_list_name(5): names[:n_train_5h],
        TEST_LIST: names[len(names) - n_test :],
    }
    for file, seqs in lists.items():
        (out / file).write_text("".join(s + "\n" for s in seqs), encoding="utf-8")
    return phones
