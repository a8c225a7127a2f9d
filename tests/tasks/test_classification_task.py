"""The lid / sid tasks through the generic entry points: labels from the label dictionary,
training, decoding with fairseq's report and the classification result files."""

import json

import pytest
import torch

from xlsr.bin import decode as decode_bin
from xlsr.bin import train as train_bin
from xlsr.tasks import get_task
from xlsr.tasks.classification import (
    LabelTargets,
    ViewEnsemble,
    ViewsConfig,
    read_labels,
    write_labels,
)
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.testing.train import tiny_train_args

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("lid")
    cuts = make_tiny_cutset(root / "audio", n=6, durations=[1.0] * 6)  # languages en, de, fr
    cuts.to_file(root / "cuts.jsonl.gz")
    write_labels(cuts, "language", root / "lang")
    return root, cuts


def test_label_dictionary_and_targets(data, tmp_path):
    root, cuts = data
    labels = read_labels(root / "lang")
    assert labels == sorted({c.supervisions[0].language for c in cuts})
    cut = next(iter(cuts))
    assert LabelTargets(labels, "language")(cut) == labels.index(cut.supervisions[0].language)
    with pytest.raises(ValueError, match="not in the label dictionary"):
        LabelTargets(["xx", "yy"], "language")(cut)
    (tmp_path / "labels.txt").write_text("en 10\nde 3\n")  # fairseq dict.<labels>.txt lines
    assert read_labels(tmp_path) == ["en", "de"]
    with pytest.raises(FileNotFoundError, match="write_labels"):
        read_labels(tmp_path / "none")


def test_lid_trains_and_decodes_with_the_fairseq_report(data, tmp_path):
    # Invariant: lid trains through xlsr.bin.train (num_classes from labels.txt) and decodes
    # through xlsr.bin.decode to hyps / score files with the contract-3 keys and fairseq's
    # four-line report over every utterance.
    root, cuts = data
    args = tiny_train_args(root / "lang", root / "cuts.jsonl.gz", tmp_path / "exp")
    assert train_bin.main(["--task", "lid", *args, "--max-update", "2"]) == 0
    argv = ["--exp-dir", str(tmp_path / "exp"), "--lang-dir", str(root / "lang")]
    argv += ["--cuts", str(root / "cuts.jsonl.gz"), "--test-set", "t"]
    assert decode_bin.main(argv) == 0  # the task from config.yaml
    out = tmp_path / "exp" / "decode" / "argmax"
    score = json.loads((out / "score-t.json").read_text())
    assert {"accuracy", "n", "accuracy_0_5", "n_0_5", "accuracy_5_20", "n_5_20"} <= set(score)
    assert score["n"] == score["n_0_5"] == 6 and score["n_5_20"] == 0 and score["utts"] == 6
    rows = [json.loads(x) for x in (out / "hyps-t.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {r["hyp"] for r in rows} <= set(read_labels(root / "lang"))
    report = (out / "report-t.txt").read_text().splitlines()
    assert report[0] == "| run classification evaluation" and "total=6" in report[1]


def test_sid_uses_the_speaker_and_a_wrong_label_dictionary_is_refused(data, tmp_path, capsys):
    root, cuts = data
    assert get_task("sid").targets(root / "lang").field == "speaker"
    args = tiny_train_args(root / "lang", root / "cuts.jsonl.gz", tmp_path / "exp")
    assert train_bin.main(["--task", "lid", *args, "--max-update", "1"]) == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "labels.txt").write_text("a\nb\n")
    argv = ["--exp-dir", str(tmp_path / "exp"), "--lang-dir", str(other)]
    argv += ["--cuts", str(root / "cuts.jsonl.gz")]
    with pytest.raises(SystemExit, match="has 2 labels, not the 3 of the model"):
        decode_bin.main(argv)


class Recorder:
    """A fake classifier: logits from the mean of each view's samples; records view shapes."""

    def __init__(self):
        self.shapes = []

    def __call__(self, views, sizes):
        self.shapes.append(tuple(views.shape))
        m = views.mean(dim=1, keepdim=True)
        return torch.cat([m, -m, torch.zeros_like(m)], dim=1), sizes


def test_views_crop_long_utterances_reproducibly():
    # Invariant: an utterance longer than max_sample_size is cut into `views` independent
    # crops of exactly that size (seeded: the same seed gives the same crops); a shorter one
    # runs once, whole; the merged scores are probabilities per utterance.
    torch.manual_seed(0)
    wav = torch.randn(2, 20000)
    lengths = torch.tensor([20000, 5000])
    rec = Recorder()
    cfg = ViewsConfig(views=3, max_sample_size=8000, seed=123)
    scores, _ = ViewEnsemble(rec, cfg)(wav, lengths)
    assert rec.shapes == [(3, 8000), (1, 5000)]
    assert scores.shape == (2, 3) and torch.allclose(scores.sum(-1), torch.ones(2, dtype=scores.dtype))  # fmt: skip
    first = ViewEnsemble(rec, cfg).crops(wav[0])
    assert torch.equal(first, ViewEnsemble(rec, cfg).crops(wav[0]))
    assert not torch.equal(first, ViewEnsemble(rec, ViewsConfig(3, 8000, seed=7)).crops(wav[0]))
    starts = [int((wav[0] == c[0]).nonzero()[0]) for c in first]
    assert all(torch.equal(c, wav[0, s : s + 8000]) for c, s in zip(first, starts))
    with pytest.raises(ValueError, match="--merge"):
        ViewsConfig(merge="vote")


def test_lid_decodes_with_views_from_the_command_line(data, tmp_path):
    root, _ = data
    args = tiny_train_args(root / "lang", root / "cuts.jsonl.gz", tmp_path / "exp")
    assert train_bin.main(["--task", "lid", *args, "--max-update", "1"]) == 0
    argv = ["--exp-dir", str(tmp_path / "exp"), "--lang-dir", str(root / "lang")]
    argv += ["--cuts", str(root / "cuts.jsonl.gz"), "--test-set", "v"]
    argv += ["--views", "4", "--max-sample-size", "8000", "--merge", "mean_logit"]
    assert decode_bin.main(argv) == 0
    score = json.loads((tmp_path / "exp" / "decode" / "argmax" / "score-v.json").read_text())
    assert score["n"] == 6
