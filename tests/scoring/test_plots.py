"""Confusion matrices: the counts, the text matrix and the picture."""

import struct

import numpy as np
import pytest

from xlsr.scoring.plots import (
    SKIPPED,
    confusion_matrix,
    format_confusion,
    plot_confusion,
    row_accuracy,
    write_confusion_text,
)

LANGS = ["cs", "de", "en", "es", "fr", "it", "nl", "pl", "pt", "ru"]


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, after checking the signature."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_counts_and_text_matrix(tmp_path):
    # Invariant: cell (r, h) counts the utterances of reference r classified h; a hypothesis
    # outside the labels gets its own column and a skipped utterance (hyp "") the column
    # (skipped); each row ends with its total and its accuracy.
    refs = ["en", "en", "en", "de", "de", "fr"]
    hyps = ["en", "de", "", "de", "xx", "en"]
    rows, cols, counts = confusion_matrix(refs, hyps)
    assert rows == ["de", "en", "fr"] and cols == ["de", "en", "fr", "xx", SKIPPED]
    assert counts.tolist() == [[1, 0, 0, 1, 0], [1, 1, 0, 0, 1], [0, 1, 0, 0, 0]]
    np.testing.assert_allclose(row_accuracy(counts), [50.0, 100 / 3, 0.0])
    counts = write_confusion_text(tmp_path / "c.txt", refs, hyps)
    assert (tmp_path / "c.txt").read_text() == format_confusion(rows, cols, counts)
    assert (tmp_path / "c.txt").read_text().splitlines() == [
        "ref\\hyp\tde\ten\tfr\txx\t(skipped)\ttotal\tacc%",
        "de\t1\t0\t0\t1\t0\t2\t50.00",
        "en\t1\t1\t0\t0\t1\t3\t33.33",
        "fr\t0\t1\t0\t0\t0\t1\t0.00",
    ]
    _, _, ordered = confusion_matrix(refs, hyps, labels=["fr", "en", "de"])
    assert ordered[0].tolist() == [0, 1, 0, 0, 0]  # rows and columns in the given order
    with pytest.raises(ValueError, match="not among the labels"):
        confusion_matrix(refs, hyps, labels=["en"])


def test_picture_of_ten_languages_and_of_many_classes(tmp_path):
    # Invariant: a valid PNG of a readable size (about 0.45 in a class at 100 dpi, numbers in
    # the cells) for 10 languages; for 60 classes a bounded picture without cell numbers.
    pytest.importorskip("matplotlib", reason="matplotlib: requirements/*.txt install it")
    rng = np.random.default_rng(0)
    refs = [LANGS[i % 10] for i in range(300)]
    hyps = [r if rng.random() < 0.8 else LANGS[rng.integers(10)] for r in refs]
    width, height = png_size(plot_confusion(refs, hyps, None, tmp_path / "c.png", "lid test"))
    assert 600 <= width <= 1200 and 450 <= height <= 900
    speakers = [f"spk{i:02d}" for i in range(60)]
    refs = [speakers[i % 60] for i in range(600)]
    width, height = png_size(plot_confusion(refs, refs, None, tmp_path / "many.png"))
    assert width <= 1700 and height <= 1500
    assert (tmp_path / "many.png").stat().st_size > 5000
