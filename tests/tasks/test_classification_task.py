"""The lid / sid tasks through the generic entry points: labels from the label dictionary,
training, decoding with fairseq's report and the classification result files."""

import json

import numpy as np
import pytest
import torch
import yaml

from xlsr.bin import decode as decode_bin
from xlsr.bin import train as train_bin
from xlsr.models.classifier import ClassifierConfig, ClassifierModel
from xlsr.scoring.classification import merge_views
from xlsr.scoring.verification import eer
from xlsr.tasks import decode_model, get_task
from xlsr.tasks.classification import (
    LabelTargets,
    ViewEnsemble,
    ViewsConfig,
    read_labels,
    write_labels,
)
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config
from xlsr.testing.corpus import make_tiny_cutset, make_truncated_cut
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
    # top: every label (3 < 5) with its probability, best first, the best one the hyp
    for r in rows:
        probs = [p for _, p in r["top"]]
        assert r["top"][0][0] == r["hyp"] and len(r["top"]) == 3 and probs == sorted(probs)[::-1]
        assert sum(probs) == pytest.approx(1.0, abs=1e-5) and r["lang"] == r["ref"]
    matrix = (out / "confusion-t.txt").read_text().splitlines()
    assert len(matrix) == 4 and sum(int(line.split("\t")[-2]) for line in matrix[1:]) == 6
    assert (out / "confusion-t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the label dictionary is kept next to the model and travels with an export, which
    # then decodes without a lang dir to the same hypotheses
    exp = tmp_path / "exp"
    assert (exp / "labels.txt").read_text() == (root / "lang" / "labels.txt").read_text()
    from xlsr.bin import export as export_bin

    assert export_bin.main(["--exp-dir", str(exp), "--out", str(tmp_path / "model")]) == 0
    assert (tmp_path / "model" / "lang" / "labels.txt").is_file()
    argv = ["--model", str(tmp_path / "model"), "--cuts", str(root / "cuts.jsonl.gz")]
    assert decode_bin.main([*argv, "--test-set", "t"]) == 0
    again = (tmp_path / "model" / "decode" / "argmax" / "hyps-t.jsonl").read_text()
    assert [json.loads(x)["hyp"] for x in again.splitlines()] == [r["hyp"] for r in rows]


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
    with pytest.raises(
        SystemExit,
        match=r"has 2 labels \(a, b\), not the 3 labels of the model in .* \(de, en, fr\)",
    ):
        decode_bin.main(argv)


def test_resuming_refuses_another_pooling(data, tmp_path):
    # Invariant: a run whose checkpoints have another parameter layout (pooling,
    # weighted_layer_sum ...: the task's arch_fields) is refused before anything is written,
    # naming the field and both values; the same options resume it.
    root, _ = data
    args = tiny_train_args(root / "lang", root / "cuts.jsonl.gz", tmp_path / "exp")
    assert train_bin.main(["--task", "lid", *args, "--max-update", "1"]) == 0
    for field, value, was in (
        ("pooling", "attentive_stats", "'mean'"),
        ("weighted_layer_sum", "true", "False"),
    ):
        option = "--classifier-" + field.replace("_", "-")
        with pytest.raises(SystemExit, match=f"classifier {field}: was {was}"):
            train_bin.main(["--task", "lid", *args, "--max-update", "2", option, value])
    assert train_bin.main(["--task", "lid", *args, "--max-update", "2"]) == 0
    assert (tmp_path / "exp" / "checkpoint-2.pt").is_file()


def test_a_config_yaml_without_a_newer_arch_field_resumes_with_its_default(data, tmp_path):
    # Invariant: an arch field missing from config.yaml (a run from before the field existed)
    # is read as the field's default: the default resumes the run, another value is refused
    # naming the default as the old value.
    root, _ = data
    args = tiny_train_args(root / "lang", root / "cuts.jsonl.gz", tmp_path / "exp")
    assert train_bin.main(["--task", "lid", *args, "--max-update", "1"]) == 0
    config = tmp_path / "exp" / "config.yaml"
    run = yaml.safe_load(config.read_text())
    for field in ("pooling", "attention_dim", "weighted_layer_sum"):
        del run["classifier"][field]
    config.write_text(yaml.safe_dump(run))
    for field, value, was in (
        ("pooling", "attentive_stats", "'mean'"),
        ("attention_dim", "64", "128"),
        ("weighted_layer_sum", "true", "False"),
    ):
        option = "--classifier-" + field.replace("_", "-")
        with pytest.raises(SystemExit, match=f"classifier {field}: was {was}, now"):
            train_bin.main(["--task", "lid", *args, "--max-update", "2", option, value])
    assert train_bin.main(["--task", "lid", *args, "--max-update", "2"]) == 0
    assert (tmp_path / "exp" / "checkpoint-2.pt").is_file()


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
    out, _ = ViewEnsemble(rec, cfg)(wav, lengths)
    scores = out.scores
    assert rec.shapes == [(3, 8000), (1, 5000)]
    assert [x.shape for x in out.logits] == [(3, 3), (1, 3)] and out.embeddings == [None, None]
    assert scores.shape == (2, 3)
    assert torch.allclose(scores.sum(-1), torch.ones(2, dtype=scores.dtype))
    first = ViewEnsemble(rec, cfg).crops(wav[0])
    assert torch.equal(first, ViewEnsemble(rec, cfg).crops(wav[0]))
    assert not torch.equal(first, ViewEnsemble(rec, ViewsConfig(3, 8000, seed=7)).crops(wav[0]))
    starts = [int((wav[0] == c[0]).nonzero()[0]) for c in first]
    assert all(torch.equal(c, wav[0, s : s + 8000]) for c, s in zip(first, starts))
    with pytest.raises(ValueError, match="--merge"):
        ViewsConfig(merge="vote")


@pytest.mark.parametrize(
    "options",
    [{}, {"pooling": "attentive_stats", "loss": "aam", "weighted_layer_sum": True}],
    ids=["mean_ce", "attentive_aam_layer_sum"],
)
def test_logits_and_embeddings_come_from_one_encoder_pass(options):
    # Invariant: logits_and_embeddings gives forward's logits and embed's embeddings (equal
    # to 1e-6 on a padded batch) from one pass of the encoder; a ViewEnsemble that needs
    # both (--npz, argmax beside verify) runs it once per utterance's views, and its per-view
    # arrays are those of the model on each view.
    cfg = ClassifierConfig(num_classes=3, latent_dim=8, **options)
    model = ClassifierModel(random_encoder(tiny_config()), cfg).eval()
    wav, lengths = padded_batch([4000, 2500])
    with torch.no_grad():
        logits, frames = model(wav, lengths)
        embeddings, _ = model.embed(wav, lengths)
        calls = count_calls(model, "features")
        both = model.logits_and_embeddings(wav, lengths)
    assert calls == [1]
    assert torch.allclose(both[0], logits, atol=1e-6) and torch.equal(both[2], frames)
    assert torch.allclose(both[1], embeddings, atol=1e-6)
    assert both[1].shape == (2, model.embedding_dim)
    ensemble = ViewEnsemble(model, ViewsConfig(views=2, max_sample_size=3000), True, True)
    calls.clear()
    out, _ = ensemble(wav, lengths)
    assert calls == [1, 1]  # one pass per utterance (its 2 crops, or its whole)
    with torch.no_grad():
        short = model(wav[1:, :2500], lengths[1:])[0]
    assert np.allclose(out.logits[1], short.numpy(), atol=1e-6)
    assert [x.shape for x in out.embeddings] == [(2, model.embedding_dim), (1, model.embedding_dim)]


def count_calls(obj, name):
    """Counts calls of ``obj.name`` (a list that gets a 1 per call)."""
    calls, method = [], getattr(obj, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return method(*args, **kwargs)

    setattr(obj, name, counted)
    return calls


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


def test_lid_npz_has_fairseqs_arrays(data, tmp_path):
    # Invariant: --npz writes gen_audio_embedding.py's keys: name (N,), latent (N, V, E) and
    # logit (N, V, C) float32, target (N,) int64 (labels.txt ids), src_len (N,) int64
    # samples; merging the npz logits as --merge does gives the hyps of the same decode.
    root, cuts = data
    args = tiny_train_args(root / "lang", root / "cuts.jsonl.gz", tmp_path / "exp")
    assert train_bin.main(["--task", "lid", *args, "--max-update", "1"]) == 0
    argv = ["--exp-dir", str(tmp_path / "exp"), "--lang-dir", str(root / "lang")]
    argv += ["--cuts", str(root / "cuts.jsonl.gz"), "--test-set", "n", "--npz", "true"]
    argv += ["--views", "3", "--max-sample-size", "8000"]  # 1 s utterances: 3 crops each
    assert decode_bin.main(argv) == 0
    out = tmp_path / "exp" / "decode" / "argmax"
    npz = np.load(out / "embeddings-n.npz")
    assert sorted(npz.files) == ["latent", "logit", "name", "src_len", "target"]
    labels = read_labels(root / "lang")
    assert npz["logit"].shape == (6, 3, 3) and npz["logit"].dtype == np.float32
    assert npz["latent"].shape[:2] == (6, 3) and npz["latent"].dtype == np.float32
    assert list(npz["name"]) == [c.id for c in cuts]  # manifest order
    by_id = {c.id: c for c in cuts}
    refs = [by_id[n].supervisions[0].language for n in npz["name"]]
    assert npz["target"].tolist() == [labels.index(r) for r in refs]
    assert npz["target"].dtype == np.int64 and npz["src_len"].tolist() == [16000] * 6
    rows = {r["id"]: r for r in map(json.loads, (out / "hyps-n.jsonl").read_text().splitlines())}
    merged = merge_views(npz["logit"], "mean_prob").argmax(-1)
    assert [labels[i] for i in merged] == [rows[n]["hyp"] for n in npz["name"]]
    assert not np.allclose(npz["latent"][:, 0], npz["latent"][:, 1])  # different crops


@pytest.fixture(scope="module")
def sid(data, tmp_path_factory):
    """A sid model of the 3 training speakers, and a verification set of 2 unseen speakers
    (0.4 s and 1.0 s utterances) with an unreadable one, and its trials."""
    root, cuts = data
    tmp = tmp_path_factory.mktemp("sid")
    write_labels(cuts, "speaker", tmp / "lang")
    args = tiny_train_args(tmp / "lang", root / "cuts.jsonl.gz", tmp / "exp")
    assert train_bin.main(["--task", "sid", *args, "--max-update", "1"]) == 0
    veri = list(make_tiny_cutset(tmp / "audio", n=6, durations=[0.4, 1.0] * 3, prefix="v"))
    veri.append(make_truncated_cut(tmp / "audio", "v-bad"))
    for i, cut in enumerate(veri):
        cut.supervisions[0].speaker = f"new{i % 2}"
    from lhotse import CutSet

    CutSet.from_cuts(veri).to_file(tmp / "veri.jsonl.gz")
    ids = [c.id for c in veri]
    trials = [(int(i % 2 == j % 2), ids[i], ids[j]) for i in range(7) for j in range(i + 1, 7)]
    (tmp / "trials.txt").write_text("".join(f"{t} {a} {b}\n" for t, a, b in trials))
    return tmp, trials


def _decode_sid(tmp, *extra):
    argv = ["--exp-dir", str(tmp / "exp"), "--lang-dir", str(tmp / "lang"), "--test-set", "veri"]
    argv += ["--cuts", str(tmp / "veri.jsonl.gz"), "--max-sample-size", "8000", *extra]
    return decode_bin.main(argv)


def test_sid_verifies_unseen_speakers(sid):
    # Invariant: verify scores each trial by the mean cosine over all pairs of the two
    # utterances' view embeddings (fairseq's mean_latent_sim, recomputed here from the npz),
    # EER is over the scored trials, and trials of the unreadable utterance are counted as
    # skipped, never dropped; unseen speakers (not in labels.txt) are no error (target -1).
    tmp, trials = sid
    args = ["--methods", "verify", "--trials", str(tmp / "trials.txt"), "--views", "3"]
    assert _decode_sid(tmp, *args, "--npz", "true") == 0
    out = tmp / "exp" / "decode" / "verify"
    score = json.loads((out / "score-veri.json").read_text())
    bad = sum(1 for _, a, b in trials if "v-bad" in (a, b))
    assert (score["trials"], score["scored_trials"]) == (21, 21 - bad) and bad == 6
    assert score["skipped_trials"]["count"] == bad and score["utts"] == 7
    assert score["skipped"]["count"] == 1 and score["p_target"] == 0.01
    assert score["target_trials"] + score["nontarget_trials"] == 21
    lines = [x.split() for x in (out / "scores-veri.txt").read_text().splitlines()]
    assert [(a, b) for a, b, _, _ in lines] == [(a, b) for _, a, b in trials]
    npz = np.load(out / "embeddings-veri.npz")
    assert npz["latent"].shape[:2] == (6, 3) and npz["target"].tolist() == [-1] * 6
    unit = npz["latent"] / np.linalg.norm(npz["latent"], axis=-1, keepdims=True)
    vec = dict(zip(npz["name"], unit.astype(np.float64)))
    scored, target = [], []
    for (t, a, b), (_, _, kind, value) in zip(trials, lines):
        assert kind == ("target" if t else "nontarget")
        if "v-bad" in (a, b):
            assert value == "nan"
            continue
        assert float(value) == pytest.approx((vec[a] @ vec[b].T).mean(), abs=2e-6)
        scored.append(float(value))
        target.append(bool(t))
    assert score["eer"] == pytest.approx(eer(scored, target), abs=1e-3)
    short = npz["latent"][[n.endswith(("0000", "0002", "0004")) for n in npz["name"]]]
    assert np.array_equal(short[:, 0], short[:, 2])  # a 0.4 s utterance: one view, repeated
    rows = [json.loads(x) for x in (out / "hyps-veri.jsonl").read_text().splitlines()]
    assert len(rows) == 7 and {r["hyp"] for r in rows} == {""}
    assert (tmp / "exp" / "decode" / "summary-veri.txt").read_text().splitlines()[
        1
    ] == "method\tEER"


def test_sid_argmax_and_verify_on_one_set(sid):
    # Invariant: both methods on a set of unseen speakers run (argmax is meaningless there,
    # but no label error); each result is ranked in the summary of its own metric.
    tmp, _ = sid
    argv = ["--methods", "argmax,verify", "--trials", str(tmp / "trials.txt")]
    assert _decode_sid(tmp, *argv, "--similarity", "first_logit_sim") == 0
    decode = tmp / "exp" / "decode"
    assert json.loads((decode / "argmax" / "score-veri.json").read_text())["accuracy"] == 0.0
    assert "argmax" in (decode / "summary-veri.txt").read_text()
    assert "verify" in (decode / "summary-eer-veri.txt").read_text()


def test_trials_errors_come_before_the_model(sid, tmp_path, monkeypatch):
    # Invariant: a trial naming a cut id outside the test set, a malformed line or a missing
    # --trials stops decoding before any model is loaded, naming the file and line.
    tmp, _ = sid

    def forbidden(*a, **k):
        raise AssertionError("the model was loaded before the trials were checked")

    monkeypatch.setattr(decode_model, "load_task_model", forbidden)
    bad = tmp_path / "trials.txt"
    bad.write_text("1 v-0000 v-0002\n0 v-0000 nobody\n")
    with pytest.raises(SystemExit, match=rf"--trials {bad}:2: cut id 'nobody' is not in"):
        _decode_sid(tmp, "--methods", "verify", "--trials", str(bad))
    bad.write_text("yes v-0000 v-0002\n")
    with pytest.raises(SystemExit, match=rf"{bad}:1: a trial is"):
        _decode_sid(tmp, "--methods", "verify", "--trials", str(bad))
    with pytest.raises(SystemExit, match="verify needs --trials"):
        _decode_sid(tmp, "--methods", "verify")
