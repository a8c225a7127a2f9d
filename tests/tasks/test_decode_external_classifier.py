"""External classifiers through ``python -m xlsr.bin.decode --task lid|sid``: a fairseq
wav2vec_classification checkpoint (labels from its task_state, a dict.<labels>.txt beside it
or the lang dir's labels.txt) and a Hugging Face Wav2Vec2ForSequenceClassification dir
decode to the labels ``xlsr.load_model`` gives for the same audio; a model of another task,
a labels.txt of other labels and a checkpoint without labels are refused, naming what is
wrong."""

import json

import pytest
import torch

import xlsr
from xlsr.bin import decode as decode_bin
from xlsr.scoring.results import read_hyps
from xlsr.testing.checkpoints import (
    random_encoder,
    tiny_config,
    write_fairseq_checkpoint,
    write_fairseq_classifier,
    write_hf_classifier_dir,
    write_hf_dir,
)
from xlsr.testing.corpus import make_tiny_cutset

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")
#: the model's labels by class id: not sorted, cased and hyphenated as no reference is, so a
#: hypothesis that was sorted, case-folded or normalised like ASR text would show
LABELS = ["fr", "EN", "de-AT"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """6 utterances of 0.6..1.4 s (one padded batch; languages en, de, fr; speakers spk0..2)."""
    root = tmp_path_factory.mktemp("ext")
    cuts = make_tiny_cutset(root / "audio", n=6, durations=[0.6, 1.0, 1.4, 0.8, 1.2, 0.7])
    cuts.to_file(root / "cuts.jsonl.gz")
    return root, cuts


@pytest.fixture(scope="module")
def encoder():
    return random_encoder(tiny_config())


def lang_dir(path, labels=None):
    """A lang dir, with labels.txt when ``labels`` are given."""
    path.mkdir(parents=True, exist_ok=True)
    if labels is not None:
        (path / "labels.txt").write_text("".join(f"{x}\n" for x in labels))
    return path


def decode(corpus, model, lang, out, *extra, option="--model"):
    root, _ = corpus
    argv = [option, str(model), "--lang-dir", str(lang), "--cuts", str(root / "cuts.jsonl.gz")]
    return decode_bin.main([*argv, "--exp-dir", str(out), "--test-set", "t", *extra])


def direct(loaded, cuts):
    """cut id -> class probabilities (float64) of ``loaded``'s logits on the cut's audio
    alone (no padding, no batching)."""
    out = {}
    for cut in cuts:
        wav = torch.from_numpy(cut.load_audio()[0]).float()[None]
        with torch.no_grad():
            logits, _ = loaded.logits(wav, torch.tensor([wav.shape[1]]))
        out[cut.id] = logits[0].double().softmax(-1)
    return out


def assert_decoded_as_loaded(corpus, out, loaded, files, field="language"):
    """Every utterance's hyp is the argmax of the loaded model's logits and its ``top``
    probabilities are their softmax; the score file accounts for all 6 utterances and
    names the model's files."""
    _, cuts = corpus
    probs = direct(loaded, cuts)
    labels = loaded.vocabulary
    rows = {r["id"]: r for r in read_hyps(out / "decode" / "argmax" / "hyps-t.jsonl")}
    assert sorted(rows) == sorted(c.id for c in cuts)
    for cut in cuts:
        row, p = rows[cut.id], probs[cut.id]
        assert row["hyp"] == labels[int(p.argmax())]
        assert row["ref"] == getattr(cut.supervisions[0], field)
        assert [x for x, _ in row["top"]] == [labels[i] for i in p.argsort(descending=True)]
        assert [q for _, q in row["top"]] == pytest.approx(sorted(p.tolist())[::-1], abs=1e-5)
    score = json.loads((out / "decode" / "argmax" / "score-t.json").read_text())
    assert score["utts"] == score["n"] == 6 and score["skipped"]["count"] == 0
    assert score["model"]["checkpoints"] == [str(f) for f in files]
    return rows, score


def test_fairseq_classifier_with_its_own_labels(corpus, encoder, tmp_path):
    # Invariant: the task (lid) and the labels come from the checkpoint (task_state); the
    # lang dir needs no labels.txt; hyps are the argmax of xlsr.load_model's logits.
    path = write_fairseq_classifier(encoder, tmp_path / "lid.pt", LABELS, latent_dim=8)
    lang = lang_dir(tmp_path / "lang")
    assert decode(corpus, path, lang, tmp_path / "out") == 0  # no --task: lid, from the file
    loaded = xlsr.load_model(path)
    assert loaded.vocabulary == LABELS
    _, score = assert_decoded_as_loaded(corpus, tmp_path / "out", loaded, [path])
    assert score["model"]["weights"] == "fairseq_model"


def test_fairseq_classifier_labels_from_the_lang_dir(corpus, encoder, tmp_path):
    # Invariant: a checkpoint without task_state and no label file beside it takes the lang
    # dir's labels.txt (in its order), and the score file names that file too.
    path = write_fairseq_classifier(encoder, tmp_path / "m" / "lid.pt", LABELS, task_state=False)
    lang = lang_dir(tmp_path / "lang", LABELS)
    assert decode(corpus, path, lang, tmp_path / "out", "--task", "lid") == 0
    loaded = xlsr.load_model(path, vocabulary=lang / "labels.txt")
    assert loaded.vocabulary == LABELS
    files = [path, lang / "labels.txt"]
    assert_decoded_as_loaded(corpus, tmp_path / "out", loaded, files)


def test_fairseq_classifier_labels_beside_it_and_a_lang_dir_of_other_labels(
    corpus, encoder, tmp_path
):
    # Invariant: dict.<labels>.txt beside the checkpoint gives the labels ("label count"
    # lines); a labels.txt in the lang dir that is not the model's (another order, another
    # number) is refused naming both files and the first difference, before decoding.
    path = write_fairseq_classifier(encoder, tmp_path / "m" / "lid.pt", LABELS, task_state=False)
    (tmp_path / "m" / "dict.lang.txt").write_text("".join(f"{x} 7\n" for x in LABELS))
    assert decode(corpus, path, lang_dir(tmp_path / "none"), tmp_path / "out") == 0
    files = [path, tmp_path / "m" / "dict.lang.txt"]
    assert_decoded_as_loaded(corpus, tmp_path / "out", xlsr.load_model(path), files)
    other = lang_dir(tmp_path / "other", sorted(LABELS))
    with pytest.raises(SystemExit) as e:
        decode(corpus, path, other, tmp_path / "out2")
    message = str(e.value)
    assert str(other / "labels.txt") in message and str(path) in message
    assert "class 0 is 'EN' in labels.txt, 'fr' in the model" in message
    assert not (tmp_path / "out2" / "decode" / "argmax").exists()
    fewer = lang_dir(tmp_path / "fewer", LABELS[:2])
    with pytest.raises(SystemExit, match=r"has 2 labels \(fr, EN\), not the 3 labels of the model"):
        decode(corpus, path, fewer, tmp_path / "out2")


def test_fairseq_classifier_without_labels_is_refused(corpus, encoder, tmp_path):
    # Invariant: no task_state, no label file beside it and no labels.txt in the lang dir:
    # one message naming the checkpoint and every place looked at.
    path = write_fairseq_classifier(encoder, tmp_path / "m" / "lid.pt", LABELS, task_state=False)
    lang = lang_dir(tmp_path / "lang")
    with pytest.raises(SystemExit) as e:
        decode(corpus, path, lang, tmp_path / "out")
    message = str(e.value)
    assert message.startswith(f"--model {path}: no label dictionary")
    assert str(lang / "labels.txt") in message and "dict.lang.txt" in message


@pytest.mark.parametrize("option", ["--model", "--hf-model"])
def test_hf_classifier_dir(corpus, encoder, tmp_path, option):
    # Invariant: a Wav2Vec2ForSequenceClassification dir decodes through --model or
    # --hf-model with its id2label labels, unnormalised ("EN", "de-AT"); a labels.txt of
    # the same labels is accepted; the score file names config.json and the weights.
    hf = write_hf_classifier_dir(encoder, tmp_path / "hf", LABELS, proj_size=8, weighted=True)
    lang = lang_dir(tmp_path / "lang", LABELS)
    assert decode(corpus, hf, lang, tmp_path / "out", option=option) == 0
    loaded = xlsr.load_model(hf)
    assert loaded.vocabulary == LABELS
    files = [hf / "config.json", hf / "model.safetensors"]
    rows, score = assert_decoded_as_loaded(corpus, tmp_path / "out", loaded, files)
    assert score["model"]["weights"] == "hf_model"


def test_hf_classifier_dir_as_sid(corpus, encoder, tmp_path):
    # Invariant: --task sid decodes an external classifier against the speakers.
    speakers = ["spk2", "spk0", "spk1"]
    hf = write_hf_classifier_dir(encoder, tmp_path / "hf", speakers, proj_size=8, seed=3)
    lang = lang_dir(tmp_path / "lang")
    args = ["--task", "sid", "--views", "2", "--max-sample-size", "12000"]
    assert decode(corpus, hf, lang, tmp_path / "out", *args, option="--hf-model") == 0
    rows = read_hyps(tmp_path / "out" / "decode" / "argmax" / "hyps-t.jsonl")
    assert len(rows) == 6 and {r["hyp"] for r in rows} <= set(speakers)
    assert {r["ref"] for r in rows} == set(speakers)


def refused(call, *args) -> str:
    with pytest.raises(SystemExit) as e:
        call(*args)
    return str(e.value)


def test_models_of_another_task_are_refused(corpus, encoder, tmp_path):
    # Invariant: a model given to a task that does not decode it is refused with one
    # message naming the file, its architecture and the --task that decodes it.
    lid = write_fairseq_classifier(encoder, tmp_path / "lid.pt", LABELS)
    ctc = write_fairseq_checkpoint(encoder, tmp_path / "ctc.pt", finetuned=True)
    pre = write_fairseq_checkpoint(encoder, tmp_path / "pre.pt")
    hf_lid = write_hf_classifier_dir(encoder, tmp_path / "hf_lid", LABELS)
    hf_ctc = write_hf_dir(encoder, tmp_path / "hf_ctc", "Wav2Vec2ForCTC")
    hf_encoder = write_hf_dir(encoder, tmp_path / "hf_encoder")  # Wav2Vec2Model: no head
    lang, out = lang_dir(tmp_path / "lang", LABELS), tmp_path / "out"
    cases = [
        (
            lid,
            "asr_ctc",
            ["a fairseq wav2vec_classification checkpoint", "--task lid or --task sid"],
        ),
        (ctc, "lid", ["a fairseq wav2vec_ctc checkpoint", "decode it with --task asr_ctc"]),
        (pre, "sid", ["a fairseq wav2vec2 checkpoint, which no task decodes", "--xlsr-checkpoint"]),
        (hf_lid, "asr_ctc", ["Wav2Vec2ForSequenceClassification directory", "--task lid or"]),
        (hf_ctc, "lid", ["a Hugging Face Wav2Vec2ForCTC directory", "with --task asr_ctc"]),
        (hf_encoder, "sid", ["a Hugging Face Wav2Vec2Model directory; no task decodes it"]),
    ]
    for path, task, words in cases:
        message = refused(decode, corpus, path, lang, out, "--task", task)
        assert str(path) in message and all(w in message for w in words), message
        assert f"--task {task} decodes" in message, message
    assert not (out / "decode").exists()


def test_a_fairseq_classifier_given_as_checkpoint_says_how_to_decode_it(corpus, encoder, tmp_path):
    # Invariant: --checkpoint (a file of an exp dir) with a fairseq classifier names it and
    # the options that decode it.
    lid = write_fairseq_classifier(encoder, tmp_path / "lid.pt", LABELS)
    root, _ = corpus
    argv = ["--task", "lid", "--exp-dir", str(tmp_path), "--checkpoint", str(lid)]
    argv += ["--lang-dir", str(lang_dir(tmp_path / "lang", LABELS))]
    message = refused(decode_bin.main, [*argv, "--cuts", str(root / "cuts.jsonl.gz")])
    assert f"{lid}: a fairseq fine-tuned wav2vec_classification checkpoint" in message
    assert f"--task lid or --task sid --model {lid}" in message
