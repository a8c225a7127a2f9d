"""xlsr.load_model: every kind of model the toolkit decodes comes back as its task's model, in
eval mode, with its task, vocabulary and config; the logits are those of the original (our
trained model, transformers' Wav2Vec2ForCTC, a manual fairseq projection); anything else is
one CheckpointError naming the path and what was expected."""

import json
import subprocess
import sys

import pytest
import torch

import xlsr
from xlsr.bin import train as train_bin
from xlsr.data.tokenizer import read_symbols
from xlsr.models.fairseq_hf import CheckpointError, load_encoder, read_safetensors, save_encoder
from xlsr.models.safe_pickle import torch_load
from xlsr.tasks.load import task_of_path
from xlsr.testing.checkpoints import (
    padded_batch,
    random_encoder,
    tiny_config,
    write_fairseq_checkpoint,
    write_fairseq_classifier,
    write_hf_classifier_dir,
    write_hf_dir,
    write_safetensors,
)
from xlsr.testing.decode import make_decode_exp, make_test_set
from xlsr.testing.lang import SENTENCES, make_tiny_lang_dir
from xlsr.train import checkpoint as ckpt

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")
WAV, LENGTHS = padded_batch([4000, 3000])


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    path = tmp_path_factory.mktemp("lang") / "lang_char"
    make_tiny_lang_dir(path, graphs=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, lang):
    """An exp dir of xlsr.bin.train --task asr_ctc: 2 updates, a checkpoint and a weight
    sample after each (checkpoint-1.pt, checkpoint-2.pt, averaged.pt)."""
    tmp = tmp_path_factory.mktemp("train")
    cuts = make_test_set(tmp / "data", n=4, texts=SENTENCES[:4])
    argv = ["--task", "asr_ctc", "--lang-dir", str(lang), "--train-cuts", str(cuts)]
    argv += ["--exp-dir", str(tmp / "exp"), "--max-update", "2", "--save-every-n", "1"]
    argv += ["--keep-last-n", "0", "--average-period", "1", "--update-freq", "1"]
    argv += ["--freeze-finetune-updates", "0", "--tensorboard", "false", "--ctc-loss", "torch"]
    argv += ["--data-max-duration", "2.5", "--data-min-cut-duration", "0.5"]
    argv += ["--data-max-cut-duration", "2.0"]
    assert train_bin.main(argv) == 0
    return tmp / "exp"


def rebuilt(state):
    """The CtcModel a checkpoint's config describes, with its weights (by hand)."""
    from xlsr.models import EncoderConfig, XLSREncoder
    from xlsr.models.ctc import CtcConfig, CtcModel

    cfg = state["config"]
    model = CtcModel(XLSREncoder(EncoderConfig.from_dict(cfg["encoder"])), CtcConfig(**cfg["ctc"]))
    model.load_state_dict(state["model"])
    return model.eval()


def same_output(loaded, model):
    with torch.no_grad():
        ours, frames = loaded(WAV, LENGTHS)
        theirs, their_frames = model(WAV, LENGTHS)
    assert torch.equal(frames, their_frames)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


# ------------------------------------------------------------------------------ our models


def test_exp_dir_gives_the_newest_checkpoint_with_its_vocabulary(trained, lang):
    loaded = xlsr.load_model(trained)
    assert (loaded.kind, loaded.task, loaded.model.task_name) == ("exp_dir", "asr_ctc", "asr_ctc")
    assert loaded.files == [trained / "checkpoint-2.pt"] and not loaded.model.training
    assert loaded.vocabulary == read_symbols(lang / "tokenizer" / "tokens.txt")
    assert loaded.lang_dir == lang and loaded.config["task"] == "asr_ctc"
    assert loaded.config["train"]["max_update"] == 2  # the run config, as config.yaml has it
    same_output(loaded, rebuilt(ckpt.load_checkpoint(trained / "checkpoint-2.pt")))
    # logits are the output layer before the log-softmax
    with torch.no_grad():
        logits, _ = loaded.logits(WAV, LENGTHS)
        log_probs, _ = loaded(WAV, LENGTHS)
    torch.testing.assert_close(logits.log_softmax(-1), log_probs)
    assert loaded.tokenizer.decode([loaded.vocabulary.index("o")]) == "o"


def test_averaged_and_checkpoint_files(trained):
    averaged = xlsr.load_model(trained, checkpoint="averaged")
    assert averaged.files == [trained / "averaged.pt"]
    same_output(averaged, rebuilt(ckpt.load_checkpoint(trained / "averaged.pt")))
    one = xlsr.load_model(trained / "checkpoint-1.pt")  # read with the restricted unpickler
    assert one.kind == "checkpoint" and one.vocabulary == averaged.vocabulary
    same_output(one, rebuilt(ckpt.load_checkpoint(trained / "checkpoint-1.pt")))
    with pytest.raises(CheckpointError, match="checkpoint='averaged' picks a file of an exp dir"):
        xlsr.load_model(trained / "checkpoint-1.pt", checkpoint="averaged")


def test_a_relative_lang_dir_is_found_from_the_recipe_dir(tmp_path, lang, monkeypatch):
    # the recipe trains in egs/<corpus>/<task> with --lang-dir data/lang_char: loading
    # egs/.../exp/ctc from elsewhere still finds it (above the exp dir)
    recipe = tmp_path / "recipe"
    (recipe / "data").mkdir(parents=True)
    (recipe / "data" / "lang_char").symlink_to(lang)
    exp = make_decode_exp(recipe / "exp" / "ctc", lang)
    state = ckpt.load_checkpoint(exp / "checkpoint-1.pt")
    state["config"]["lang_dir"] = "data/lang_char"
    torch.save(state, exp / "checkpoint-1.pt")
    monkeypatch.chdir(tmp_path)
    loaded = xlsr.load_model(exp)
    assert loaded.vocabulary is not None and loaded.lang_dir.name == "lang_char"


def test_a_transducer_exp_dir(tmp_path, lang):
    exp = make_decode_exp(tmp_path / "exp", lang, head="transducer")
    loaded = xlsr.load_model(exp)
    assert loaded.task == loaded.model.task_name == "asr_transducer"
    assert type(loaded.model).__name__ == "TransducerModel" and len(loaded.vocabulary) > 3
    with pytest.raises(ValueError, match="no CTC output layer"):
        loaded.logits(WAV, LENGTHS)


def test_a_lang_dir_of_other_tokens(tmp_path, lang):
    other = tmp_path / "other"
    make_tiny_lang_dir(other, ["alpha beta gamma", "delta epsilon"], graphs=False)
    exp = make_decode_exp(tmp_path / "exp", lang)
    with pytest.raises(CheckpointError, match="tokens, the model in"):
        xlsr.load_model(exp, lang_dir=other)  # given: an error
    state = ckpt.load_checkpoint(exp / "checkpoint-1.pt")
    state["config"]["lang_dir"] = str(other)
    torch.save(state, exp / "checkpoint-1.pt")
    loaded = xlsr.load_model(exp)  # found: the model loads, its vocabulary is unknown
    assert loaded.vocabulary is None and loaded.tokenizer is None


@pytest.mark.parametrize(
    "kind, words",
    [
        ("missing", ["no such file or directory"]),
        ("empty_dir", ["holds no model", "exp dir", "exported model dir", "config.json"]),
        ("encoder_only", ["an encoder without a head", "xlsr.load_encoder"]),
        ("other_dict", ["not a model checkpoint", "wav2vec_ctc"]),
        ("not_torch", ["not a readable PyTorch checkpoint"]),
        ("no_averaged", ["no averaged.pt"]),
        ("fairseq_pretraining", ["wav2vec2 checkpoint, not a fine-tuned CTC model"]),
    ],
)
def test_what_is_not_a_model_is_one_clear_error(tmp_path, lang, kind, words):
    enc = random_encoder(tiny_config())
    exp = make_decode_exp(tmp_path / "exp", lang)
    paths = {
        "missing": (tmp_path / "nope", {}),
        "empty_dir": (tmp_path / "empty", {}),
        "encoder_only": (tmp_path / "enc.pt", {}),
        "other_dict": (tmp_path / "other.pt", {}),
        "not_torch": (tmp_path / "text.pt", {}),
        "no_averaged": (exp, {"checkpoint": "averaged"}),
        "fairseq_pretraining": (tmp_path / "fs.pt", {}),
    }
    (tmp_path / "empty").mkdir()
    save_encoder(enc, tmp_path / "enc.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    write_fairseq_checkpoint(enc, tmp_path / "fs.pt")
    path, kw = paths[kind]
    with pytest.raises(CheckpointError) as e:
        xlsr.load_model(path, **kw)
    assert str(path) in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_import_xlsr_stays_light():
    code = (
        "import sys, xlsr; print(sorted(m for m in ('xlsr.tasks', 'lhotse') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from xlsr.tasks.load import load_model

    assert xlsr.load_model is load_model


# -------------------------------------------------------------------------- Hugging Face

# HF's letter layout after its fairseq converter: the blank <pad> at id 0 ... here at id 1, to
# check that our output layer moves it to 0
HF_VOCAB = ["<s>", "<pad>", "</s>", "<unk>", "|"] + list("ONETWHRFIVSXU")


@pytest.fixture
def hf_dir(tmp_path):
    path = write_hf_dir(random_encoder(tiny_config(), seed=2), tmp_path / "hf", "Wav2Vec2ForCTC")
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(vocab_size=len(HF_VOCAB), pad_token_id=1)
    (path / "config.json").write_text(json.dumps(cfg))
    (path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(HF_VOCAB)}))
    state = read_safetensors(path / "model.safetensors")
    torch.manual_seed(0)
    state["lm_head.weight"] = torch.randn(len(HF_VOCAB), state["lm_head.weight"].shape[1])
    state["lm_head.bias"] = torch.randn(len(HF_VOCAB))
    write_safetensors(state, path / "model.safetensors")
    return path


def test_hf_ctc_dir(hf_dir):
    loaded = xlsr.load_model(hf_dir)
    assert (loaded.kind, loaded.task, loaded.model.task_name) == ("hf_ctc", "asr_ctc", "asr_ctc")
    assert loaded.vocabulary[:2] == ["<pad>", "<s>"] and len(loaded.vocabulary) == len(HF_VOCAB)
    assert loaded.config["ctc"]["vocab_size"] == len(HF_VOCAB) and not loaded.model.training
    ids = [loaded.vocabulary.index(c) for c in "ONE|TWO"]
    assert loaded.tokenizer.decode(ids) == "ONE TWO"


def test_hf_ctc_logits_equal_transformers(hf_dir):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    loaded = xlsr.load_model(hf_dir)
    ref = transformers.Wav2Vec2ForCTC.from_pretrained(hf_dir).eval()
    hf_ids = [HF_VOCAB.index(t) for t in loaded.vocabulary]
    with torch.no_grad():
        ours, frames = loaded.logits(WAV, LENGTHS)
        for b in range(2):  # one utterance at a time: no attention mask question
            theirs = ref(WAV[b : b + 1, : LENGTHS[b]]).logits[0]
            assert theirs.shape[0] == frames[b]
            torch.testing.assert_close(
                ours[b, : frames[b]], theirs[:, hf_ids], rtol=1e-4, atol=1e-4
            )


# ------------------------------------------------------------------------------- fairseq

LETTERS = ["|", "E", "T", "A", "O", "N", "I", "H"]  # dict.ltr.txt, most frequent first


def write_dict(path, letters=LETTERS):
    path.write_text("".join(f"{c} {1000 - i}\n" for i, c in enumerate(letters)))
    return path


@pytest.mark.parametrize("style", ["cfg", "args"])
def test_fairseq_ctc_checkpoint_applies_its_projection(tmp_path, style):
    enc = random_encoder(tiny_config(), seed=3)
    path = write_fairseq_checkpoint(enc, tmp_path / "ft.pt", style=style, finetuned=True)
    write_dict(tmp_path / "dict.ltr.txt")
    loaded = xlsr.load_model(path)
    assert (loaded.kind, loaded.task, loaded.model.task_name) == (
        "fairseq_ctc",
        "asr_ctc",
        "asr_ctc",
    )
    # fairseq's Dictionary: <s> <pad> </s> <unk> first; the CTC blank is index 0 (<s>)
    assert loaded.vocabulary == ["<s>", "<pad>", "</s>", "<unk>", *LETTERS]
    assert loaded.files == [path, tmp_path / "dict.ltr.txt"]
    # by hand: the fine-tuned encoder's last hidden state times the projection
    state = torch_load(path)["model"]
    encoder = load_encoder(path).eval()
    with torch.no_grad():
        hidden, frames = encoder(WAV, LENGTHS)
        expected = hidden @ state["w2v_encoder.proj.weight"].T + state["w2v_encoder.proj.bias"]
        logits, our_frames = loaded.logits(WAV, LENGTHS)
    assert torch.equal(frames, our_frames)
    torch.testing.assert_close(logits, expected)
    ids = [loaded.vocabulary.index(c) for c in "THE|HAT"]
    assert loaded.tokenizer.decode([0, *ids, 0]) == "THE HAT"


def test_fairseq_dictionary_and_blank_weight(tmp_path):
    enc = random_encoder(tiny_config(), seed=3)
    path = write_fairseq_checkpoint(enc, tmp_path / "model" / "ft.pt", finetuned=True)
    with pytest.raises(CheckpointError, match="no fairseq dictionary: expected dict.ltr.txt"):
        xlsr.load_model(path)
    given = write_dict(tmp_path / "elsewhere.txt")
    plain = xlsr.load_model(path, vocabulary=given)
    assert plain.files[1] == given
    with pytest.raises(CheckpointError, match="has 12 outputs, the dictionary"):
        xlsr.load_model(path, vocabulary=write_dict(tmp_path / "short.txt", LETTERS[:-1]))
    # blank_weight (blank_mode "add") is added to the blank's logit
    ckpt_obj = torch.load(path)
    ckpt_obj["cfg"]["model"]["blank_weight"] = 2.5
    torch.save(ckpt_obj, path)
    weighted = xlsr.load_model(path, vocabulary=given)
    delta = weighted.model.output.bias - plain.model.output.bias
    torch.testing.assert_close(delta, torch.tensor([2.5] + [0.0] * 11))


# --------------------------------------------------------------------------- classifiers

LID_LABELS = ["en", "de", "fr"]


def test_classifiers_load_as_lid_models_or_sid_on_request(tmp_path):
    enc = random_encoder(tiny_config(), seed=5)
    fairseq = write_fairseq_classifier(enc, tmp_path / "lid.pt", LID_LABELS)
    hf = write_hf_classifier_dir(enc, tmp_path / "hf", LID_LABELS)
    for path, kind in ((fairseq, "fairseq_classifier"), (hf, "hf_classifier")):
        loaded = xlsr.load_model(path)
        assert (loaded.kind, loaded.task, loaded.model.task_name) == (kind, "lid", "lid")
        assert loaded.vocabulary == loaded.config["labels"] == LID_LABELS
        assert type(loaded.model).__name__ == "ClassifierModel" and not loaded.model.training
        assert task_of_path(path) == "lid"
        # a classifier does not say what it classifies: task= tells
        sid = xlsr.load_model(path, task="sid")
        assert sid.task == sid.model.task_name == sid.config["task"] == "sid"
        with pytest.raises(CheckpointError, match="a classifier, for task lid or sid"):
            xlsr.load_model(path, task="asr_ctc")
        # the same logits as the forward, (B, classes), in either kind
        with torch.no_grad():
            logits, frames = loaded.logits(WAV, LENGTHS)
            forward, _ = loaded(WAV, LENGTHS)
        assert logits.shape == (2, 3) and torch.equal(logits, forward)


def test_a_task_the_model_does_not_serve_is_refused(hf_dir):
    with pytest.raises(CheckpointError, match="a asr_ctc model, not a lid model"):
        xlsr.load_model(hf_dir, task="lid")
    assert xlsr.load_model(hf_dir, task="asr_ctc").task == "asr_ctc"


def test_our_lid_checkpoint_gives_its_labels(tmp_path):
    from dataclasses import asdict

    from xlsr.models.classifier import ClassifierConfig, ClassifierModel

    cfg = ClassifierConfig(num_classes=3, latent_dim=8)
    model = ClassifierModel(random_encoder(tiny_config(), seed=6), cfg)
    run = {"task": "lid", "head": "classifier", "classifier": asdict(cfg), "labels": LID_LABELS}
    run["encoder"] = model.encoder.cfg.to_dict()
    torch.save({"model": model.state_dict(), "config": run}, tmp_path / "checkpoint-1.pt")
    loaded = xlsr.load_model(tmp_path / "checkpoint-1.pt")
    assert (loaded.task, loaded.vocabulary) == ("lid", LID_LABELS)
    same_output(loaded, model.eval())


def test_training_starts_from_the_encoder_of_one_of_our_models(trained, lang, tmp_path):
    """--xlsr-checkpoint takes our exp dirs (any task, e.g. an ASR model's encoder for ST):
    with the encoder frozen for the one update, the new run's encoder is the old one."""
    from xlsr.tasks.load import encoder_of_model

    encoder = encoder_of_model(trained)
    newest = ckpt.newest_readable(trained)[1]["model"]
    assert encoder.training
    for k, v in encoder.state_dict().items():
        torch.testing.assert_close(v, newest[f"encoder.{k}"], rtol=0, atol=0)
    assert encoder_of_model(trained / "checkpoint-1.pt") is not None
    cuts = make_test_set(tmp_path / "data", n=2, texts=SENTENCES[:2])
    argv = ["--task", "asr_ctc", "--lang-dir", str(lang), "--train-cuts", str(cuts)]
    argv += ["--exp-dir", str(tmp_path / "exp"), "--max-update", "1", "--save-every-n", "1"]
    argv += ["--freeze-finetune-updates", "1", "--tensorboard", "false", "--ctc-loss", "torch"]
    argv += ["--data-max-duration", "2.5", "--data-min-cut-duration", "0.5"]
    argv += ["--data-max-cut-duration", "2.0", "--xlsr-checkpoint", str(trained)]
    argv += ["--enc-mask-prob", "0.0"]
    assert train_bin.main(argv) == 0
    state = torch_load(tmp_path / "exp" / "checkpoint-1.pt")
    for k, v in encoder.state_dict().items():
        torch.testing.assert_close(state["model"][f"encoder.{k}"], v, rtol=0, atol=0)
    assert state["config"]["xlsr_checkpoint"] == str(trained)
    assert state["config"]["encoder"]["mask_prob"] == 0.0
