"""The lid / sid tasks through the generic entry points: labels from the label dictionary,
training, decoding with fairseq's report and the classification result files."""

import json

import pytest

from xlsr.bin import decode as decode_bin
from xlsr.bin import train as train_bin
from xlsr.tasks import get_task
from xlsr.tasks.classification import LabelTargets, read_labels, write_labels
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
