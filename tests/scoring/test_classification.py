"""Classification scoring: fairseq's LID report from our counts, the duration buckets, view
merging and the result files (DESIGN.md contracts 3 and 6)."""

import json

import numpy as np
import pytest

from xlsr.scoring.classification import (
    classification_scores,
    format_report,
    merge_views,
    top_labels,
    write_classification_results,
    write_embeddings_npz,
)

RELEASE_NOTE_REPORT = """| run classification evaluation
| acc = 94.34% -- err = 5.66% -- correct=1518 total=1609
| acc 0to5 = 90.91% -- err = 9.09% -- c_5=230.0 t_5=253
| acc 5to20 = 94.99% -- err = 5.01% -- c_20=1288.0 t_20=1356"""


def constructed(short, short_right, long, long_right):
    """refs, hyps, durations: ``short`` utterances of 5.0 s (the bucket's edge), ``long`` of
    5.5-25 s; the first ``*_right`` of each are classified correctly."""
    refs, hyps, durations = [], [], []
    for i in range(short + long):
        is_short = i < short
        right = i < short_right if is_short else i - short < long_right
        refs.append("en")
        hyps.append("en" if right else "de")
        durations.append(5.0 if is_short else 5.5 + (i % 20))
    return refs, hyps, durations


def test_release_note_counts_give_the_release_note_report_exactly():
    # Invariant: the XLS-R release note's VoxLingua107 counts print its report to the
    # character (accuracy and error to 2 decimals, c_ floats, t_ integers; 5.0 s is short).
    scores = classification_scores(*constructed(253, 230, 1356, 1288))
    assert format_report(scores) == RELEASE_NOTE_REPORT
    assert (scores["n"], scores["n_0_5"], scores["n_5_20"]) == (1609, 253, 1356)
    assert scores["accuracy"] == pytest.approx(100 * 1518 / 1609)


def test_release_note_report_from_constructed_view_logits():
    # Invariant: from 10 views' logits per utterance, mean_logit merging, the argmax and the
    # buckets by whole-utterance duration give the release note's report exactly; the views
    # disagree (3 of 10 favour another label) so merging, not one view, decides.
    labels = ["de", "en", "fr"]
    refs, hyps, durations = constructed(253, 230, 1356, 1288)
    logits = np.zeros((len(refs), 10, 3))
    for i, hyp in enumerate(hyps):
        logits[i, :, labels.index(hyp)] = 2.0
        logits[i, :3, labels.index(hyp)] = 0.0
        logits[i, :3, 2] = 3.0  # three views say "fr", never the merged answer
    merged = merge_views(logits, "mean_logit")
    predicted = [labels[k] for k in merged.argmax(-1)]
    assert predicted == hyps
    assert format_report(classification_scores(refs, predicted, durations)) == RELEASE_NOTE_REPORT


def test_bucket_boundary_and_long_utterances():
    scores = classification_scores(["a"] * 3, ["a", "b", "a"], [5.0, 5.0001, 25.0])
    assert (scores["n_0_5"], scores["correct_0_5"]) == (1, 1)
    assert (scores["n_5_20"], scores["correct_5_20"]) == (2, 1)  # > 20 s counts as 5to20
    empty = classification_scores(["a"], ["a"], [7.0])
    assert empty["accuracy_0_5"] is None
    assert "| acc 0to5 = n/a (no utterances) -- c_5=0.0 t_5=0" in format_report(empty)


def test_view_merging():
    # one view with a huge logit for class 0, three views fairly sure of class 1:
    # probabilities and fairseq's "mean_logit" (which averages probabilities) pick 1, the
    # mean of the raw logits picks 0
    views = np.array([[[30.0, 0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]]])
    assert merge_views(views, "mean_prob").argmax(-1).tolist() == [1]
    np.testing.assert_allclose(merge_views(views, "mean_logit"), merge_views(views, "mean_prob"))
    assert merge_views(views, "mean_raw_logit").argmax(-1).tolist() == [0]
    np.testing.assert_allclose(merge_views(views).sum(-1), 1.0)
    with pytest.raises(ValueError, match="merge must be one of"):
        merge_views(views, "vote")
    with pytest.raises(ValueError, match=r"\(N, views, classes\)"):
        merge_views(views[0])


def test_result_files_account_for_every_utterance(tmp_path):
    probs = np.array([0.1, 0.6, 0.3])
    items = [
        {"id": "u1", "ref": "de", "hyp": "de", "duration": 3.0, "top": top_labels(probs, ["en", "de", "fr"], 2)},
        {"id": "u2", "ref": "en", "hyp": "fr", "duration": 8.0},
        {"id": "u3", "ref": "fr", "hyp": "", "duration": 9.0, "skipped": "unreadable_audio"},
    ]  # fmt: skip
    score = write_classification_results(tmp_path, "test", items)
    assert (score["n"], score["correct"], score["utts"]) == (3, 1, 3)  # skipped = wrong
    assert score["skipped"] == {"count": 1, "reasons": {"unreadable_audio": 1}}
    assert json.loads((tmp_path / "score-test.json").read_text())["accuracy_5_20"] == 0.0
    rows = [json.loads(x) for x in (tmp_path / "hyps-test.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["u1", "u2", "u3"] and rows[2][
        "skipped"
    ] == "unreadable_audio"
    assert rows[0]["top"] == [["de", 0.6], ["fr", 0.3]]
    assert (tmp_path / "report-test.txt").read_text().startswith("| run classification evaluation")
    excluded = write_classification_results(tmp_path, "test", items, skipped_rule="excluded")
    assert (excluded["n"], excluded["correct"], excluded["utts"]) == (2, 1, 3)
    assert excluded["skipped_rule"] == "excluded"


def test_confusion_files_and_fields_of_the_hyps_rows(tmp_path):
    # Invariant: confusion-<set>.txt counts (reference, hypothesis) over the scored
    # utterances (a skipped one in the (skipped) column); extra fields reach the hyps rows,
    # "_" fields (for the scorer only) never do.
    items = [
        {"id": "u1", "ref": "de", "hyp": "de", "duration": 3.0, "_views": {}, "n": 1},
        {"id": "u2", "ref": "en", "hyp": "de", "duration": 8.0, "n": 2},
        {"id": "u3", "ref": "en", "hyp": "", "duration": 9.0, "skipped": "unreadable_audio"},
    ]
    write_classification_results(tmp_path, "t", items, extra_fields=["n", "_views"])
    matrix = (tmp_path / "confusion-t.txt").read_text().splitlines()
    assert matrix == [
        "ref\\hyp\tde\ten\t(skipped)\ttotal\tacc%",
        "de\t1\t0\t0\t1\t100.00",
        "en\t1\t0\t1\t2\t0.00",
    ]
    assert (tmp_path / "confusion-t.png").read_bytes()[:4] == b"\x89PNG"
    rows = [json.loads(x) for x in (tmp_path / "hyps-t.jsonl").read_text().splitlines()]
    assert [r.get("n") for r in rows] == [1, 2, None] and all("_views" not in r for r in rows)
    write_classification_results(tmp_path / "x", "t", items, skipped_rule="excluded")
    assert (tmp_path / "x" / "confusion-t.txt").read_text().splitlines()[2] == "en\t1\t0\t1\t0.00"


def test_npz_has_fairseqs_keys_shapes_and_dtypes(tmp_path):
    # Invariant: gen_audio_embedding.py's arrays: name (N,), latent (N, V, E) and logit
    # (N, V, C) float32, target (N,) int64 with -1 for a label outside the dictionary,
    # src_len (N,) int64; a single view is repeated V times; skipped utterances are absent.
    rng = np.random.default_rng(0)

    def views(v, samples):
        return {
            "logit": rng.normal(size=(v, 2)),
            "latent": rng.normal(size=(v, 4)),
            "src_len": samples,
        }

    long_views, short = views(3, 200000), views(1, 8000)
    items = [
        {"id": "b", "ref": "de", "_views": long_views},
        {"id": "a", "ref": "unseen", "_views": short},
        {"id": "c", "ref": "en", "skipped": "unreadable_audio"},
    ]
    write_embeddings_npz(tmp_path / "e.npz", items, ["en", "de"], views=3)
    npz = np.load(tmp_path / "e.npz")
    assert sorted(npz.files) == ["latent", "logit", "name", "src_len", "target"]
    assert npz["name"].tolist() == ["b", "a"] and npz["name"].dtype.kind == "U"
    assert npz["logit"].shape == (2, 3, 2) and npz["logit"].dtype == np.float32
    assert npz["latent"].shape == (2, 3, 4) and npz["latent"].dtype == np.float32
    assert npz["target"].tolist() == [1, -1] and npz["target"].dtype == np.int64
    assert npz["src_len"].tolist() == [200000, 8000] and npz["src_len"].dtype == np.int64
    np.testing.assert_allclose(npz["logit"][0], long_views["logit"], rtol=1e-6)
    np.testing.assert_allclose(npz["latent"][1], np.repeat(short["latent"], 3, 0), rtol=1e-6)
    items[0]["_views"] = dict(long_views, latent=None)  # a model without embeddings
    write_embeddings_npz(tmp_path / "e.npz", items, ["en", "de"], views=3)
    assert np.load(tmp_path / "e.npz")["latent"].shape == (0,)  # as fairseq's script writes
    items[0]["_views"] = views(2, 1)
    with pytest.raises(ValueError, match="2 views, expected 1 or 3"):
        write_embeddings_npz(tmp_path / "f.npz", items, ["en", "de"], 3)
