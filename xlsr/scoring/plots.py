"""Confusion matrices of utterance classification: counts as text and as a picture.

    confusion_matrix(refs, hyps)            (labels, hyp labels, counts)
    format_confusion(labels, cols, counts)  the text matrix (confusion-<set>.txt)
    plot_confusion(refs, hyps, labels, path, title)  the PNG (confusion-<set>.png)

Rows are reference labels, columns hypothesis labels (the same labels in the same order; a
hypothesis that is no reference label gets a column of its own, after them, and a skipped
utterance's empty hypothesis the column ``(skipped)``). The text matrix ends each row with
its count and accuracy (percent). The picture shades each cell by its share of the row,
writes the count in each non-empty cell (up to ``MAX_NUMBERED`` classes; more are drawn
without numbers) and the row's accuracy beside the row.

matplotlib is imported only when a picture is drawn, through its object-oriented Agg canvas
(no pyplot: no global figure state, no change of the user's backend).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from xlsr.utils.io import atomic_output, atomic_write_text

Pathlike = Union[str, Path]
SKIPPED = "(skipped)"  # the column of utterances without a hypothesis
MAX_NUMBERED = 30  # classes up to which the picture writes a count in each cell


def confusion_matrix(
    refs: Sequence[str], hyps: Sequence[str], labels: Optional[Sequence[str]] = None
) -> Tuple[List[str], List[str], np.ndarray]:
    """Counts of (reference, hypothesis) pairs.

    Args:
        refs: reference label per utterance.
        hyps: hypothesis per utterance ("" for a skipped utterance).
        labels: the row order (default: the sorted references).

    Returns:
        (row labels (R,), column labels (C,), counts (R, C) int64): the columns are the row
        labels, then other hypotheses (sorted), then ``(skipped)`` where there is one.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} refs for {len(hyps)} hyps")
    rows = list(labels) if labels is not None else sorted(set(refs))
    missing = sorted(set(refs) - set(rows))
    if missing:
        raise ValueError(f"references {missing[:5]} are not among the labels")
    others = sorted({h for h in hyps if h and h not in rows})
    cols = rows + others + ([SKIPPED] if any(not h for h in hyps) else [])
    r_index = {label: i for i, label in enumerate(rows)}
    c_index = {label: i for i, label in enumerate(cols)}
    counts = np.zeros((len(rows), len(cols)), dtype=np.int64)
    for r, h in zip(refs, hyps):
        counts[r_index[r], c_index[h or SKIPPED]] += 1
    return rows, cols, counts


def row_accuracy(counts: np.ndarray) -> np.ndarray:
    """(R,) percent of each row on the diagonal (NaN for an empty row)."""
    totals = counts.sum(axis=1)
    right = np.diagonal(counts[:, : counts.shape[0]])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, 100.0 * right / np.maximum(totals, 1), np.nan)


def format_confusion(rows: Sequence[str], cols: Sequence[str], counts: np.ndarray) -> str:
    """The text matrix: a header ``ref\\hyp<TAB>col...<TAB>total<TAB>acc%``, then one
    tab-separated line per reference label."""
    acc = row_accuracy(counts)
    lines = ["\t".join(["ref\\hyp", *cols, "total", "acc%"])]
    for label, row, a in zip(rows, counts, acc):
        cells = [str(int(c)) for c in row] + [str(int(row.sum())), f"{a:.2f}"]
        lines.append("\t".join([label, *cells]))
    return "\n".join(lines) + "\n"


def write_confusion_text(path: Pathlike, refs, hyps, labels=None) -> np.ndarray:
    """Writes the text matrix of ``refs`` / ``hyps`` to ``path``; returns the counts."""
    rows, cols, counts = confusion_matrix(refs, hyps, labels)
    atomic_write_text(path, format_confusion(rows, cols, counts))
    return counts


def plot_confusion(
    refs: Sequence[str],
    hyps: Sequence[str],
    labels: Optional[Sequence[str]],
    path: Pathlike,
    title: str = "",
) -> Path:
    """Draws the confusion matrix of ``refs`` / ``hyps`` into the PNG ``path``.

    Args:
        labels: the row order (default: the sorted references).
        title: drawn above the matrix (e.g. "lid test: accuracy 94.3 %").

    Returns:
        the path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols, counts = confusion_matrix(refs, hyps, labels)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    numbered = max(len(rows), len(cols)) <= MAX_NUMBERED
    cell = 0.45 if numbered else 12.0 / max(len(rows), len(cols))  # inches
    fig = Figure(figsize=(cell * len(cols) + 4.0, cell * len(rows) + 2.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(image, ax=ax, label="share of the reference's utterances", pad=0.12)
    if numbered:
        _annotate(ax, counts, share, rows, cols)
    else:  # too many labels to print: the order is the text matrix's
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel(f"hypothesis ({len(cols)})")
    ax.set_ylabel(f"reference ({len(rows)})")
    ax.set_title(title or f"{int(counts.sum())} utterances, {len(rows)} classes")
    fig.tight_layout()
    path = Path(path)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _annotate(ax, counts: np.ndarray, share: np.ndarray, rows, cols) -> None:
    """Tick labels, a count in every non-empty cell and each row's accuracy at its right."""
    n_rows, n_cols = counts.shape
    acc = row_accuracy(counts)
    ax.set_xticks(range(n_cols))
    ax.set_xticklabels(cols, rotation=90)
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(rows)
    for i in range(n_rows):
        for j in range(n_cols):
            if counts[i, j]:
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=color)
        label = "n/a" if np.isnan(acc[i]) else f"{acc[i]:.1f}%"
        ax.text(n_cols - 0.4, i, label, ha="left", va="center", fontsize="small")
    ax.text(n_cols - 0.4, -0.6, "acc", ha="left", va="bottom", fontsize="small")
