"""fairseq wav2vec_classification checkpoints (the released XLS-R LID model's layout) as our
ClassifierModel: the logits are fairseq MeanPoolingFast's computed by hand from the
checkpoint's own tensors, the labels come in class-id order from the checkpoint's task_state
or a label file, and what cannot be loaded is one CheckpointError naming the file."""

import pytest
import torch
import torch.nn.functional as F

import xlsr
from xlsr.models.fairseq_classifier import find_labels, load_fairseq_classifier
from xlsr.models.fairseq_hf import CheckpointError, load_encoder
from xlsr.models.safe_pickle import torch_load
from xlsr.testing.checkpoints import (
    padded_batch,
    random_encoder,
    tiny_config,
    write_fairseq_classifier,
)

# not sorted: the class order is the dictionary's, never alphabetical
LABELS = ["en", "de", "fr", "es", "pl"]
WAV, LENGTHS = padded_batch([4000, 2900, 1650])


def by_hand(path, activation):
    """MeanPoolingFast on the checkpoint's tensors: linear per frame, mean over the real frames,
    activation, projection; the encoder as xlsr.load_encoder reads it."""
    state = torch_load(path)["model"]
    act = {"gelu": F.gelu, "linear": lambda x: x, "tanh": torch.tanh}[activation]
    encoder = load_encoder(path).eval()
    with torch.no_grad():
        hidden, frames = encoder(WAV, LENGTHS)
        rows = []
        for b, n in enumerate(frames.tolist()):
            feat = hidden[b, :n] @ state["pooling_layer.linear.weight"].T
            pooled = (feat + state["pooling_layer.linear.bias"]).mean(dim=0)
            logits = act(pooled) @ state["pooling_layer.projection.weight"].T
            rows.append(logits + state["pooling_layer.projection.bias"])
    return torch.stack(rows), frames


@pytest.mark.parametrize("activation", ["gelu", "linear", "tanh"])
def test_logits_are_mean_pooling_fast_on_the_checkpoint_tensors(tmp_path, activation):
    enc = random_encoder(tiny_config(), seed=3)
    path = write_fairseq_classifier(enc, tmp_path / "lid.pt", LABELS, activation=activation)
    model, labels, files = load_fairseq_classifier(path, torch_load(path))
    assert labels == LABELS and files == [path] and not model.training
    assert model.cfg.latent_dim == 16 and model.cfg.activation == activation
    expected, frames = by_hand(path, activation)
    with torch.no_grad():
        logits, our_frames = model(WAV, LENGTHS)
    assert torch.equal(frames, our_frames)
    torch.testing.assert_close(logits, expected)


def test_load_model_gives_a_lid_model_with_the_task_state_labels(tmp_path):
    enc = random_encoder(tiny_config(normalize_waveform=True), seed=4)
    path = write_fairseq_classifier(enc, tmp_path / "xlsr_300m_voxlingua107_ft.pt", LABELS)
    loaded = xlsr.load_model(path)
    kind = (loaded.kind, loaded.task, loaded.model.task_name)
    assert kind == ("fairseq_classifier", "lid", "lid")
    assert loaded.vocabulary == LABELS and loaded.files == [path] and not loaded.model.training
    run = loaded.config
    assert (run["task"], run["head"], run["labels"]) == ("lid", "classifier", LABELS)
    assert run["classifier"]["num_classes"] == 5 and run["classifier"]["latent_dim"] == 16
    # cfg.task.normalize: our encoder normalises raw waveforms inside (contract 1)
    assert (
        run["encoder"]["normalize_waveform"] is True and loaded.model.encoder.cfg.normalize_waveform
    )
    logits, _ = loaded.logits(WAV, LENGTHS)
    assert logits.shape == (3, 5)
    # the encoder of a classification checkpoint alone (contract 1): the head is left out
    assert "pooling_layer.linear.weight" in load_encoder(path).load_report.ignored


def test_labels_from_a_file_when_the_checkpoint_has_none(tmp_path):
    enc = random_encoder(tiny_config(), seed=5)
    path = write_fairseq_classifier(enc, tmp_path / "ckpt" / "lid.pt", LABELS, task_state=False)
    ckpt = torch_load(path)
    with pytest.raises(CheckpointError) as e:
        xlsr.load_model(path)
    message = str(e.value)
    assert message.startswith(str(path)) and "no label dictionary" in message
    assert "dict.lang.txt" in message and "vocabulary=" in message
    # a labels.txt beside it: one label a line
    (tmp_path / "ckpt" / "labels.txt").write_text("".join(f"{x}\n" for x in LABELS))
    assert find_labels(path, ckpt) == (LABELS, [tmp_path / "ckpt" / "labels.txt"])
    # fairseq's dict.<labels>.txt (task.labels "lang") comes first: 'label count' lines
    reordered = LABELS[::-1]
    dict_file = tmp_path / "ckpt" / "dict.lang.txt"
    dict_file.write_text("".join(f"{x} {100 - i}\n" for i, x in enumerate(reordered)))
    loaded = xlsr.load_model(path)
    assert loaded.vocabulary == reordered and loaded.files == [path, dict_file]
    assert loaded.config["dictionary"] == str(dict_file)
    # given: it wins
    given = tmp_path / "given.txt"
    given.write_text("\n".join(LABELS))
    assert xlsr.load_model(path, vocabulary=given).vocabulary == LABELS


def test_a_dictionary_of_another_size_is_refused(tmp_path):
    enc = random_encoder(tiny_config(), seed=5)
    path = write_fairseq_classifier(enc, tmp_path / "lid.pt", LABELS, task_state=False)
    short = tmp_path / "labels.txt"
    short.write_text("\n".join(LABELS[:-1]))
    with pytest.raises(CheckpointError, match="has 5 outputs, the label dictionary .* has 4"):
        xlsr.load_model(path)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"pooling": "max"}, ["pooling 'max' is not supported", "MeanPoolingFast"]),
        ({"pooling": "first_token"}, ["pooling 'first_token' is not supported"]),
        ({"activation": "swish"}, ["activation_fn 'swish' is not supported"]),
    ],
)
def test_other_heads_are_refused_by_name(tmp_path, change, words):
    enc = random_encoder(tiny_config(), seed=6)
    path = write_fairseq_classifier(enc, tmp_path / "lid.pt", LABELS, **change)
    with pytest.raises(CheckpointError) as e:
        xlsr.load_model(path)
    assert str(e.value).startswith(str(path)) and all(w in str(e.value) for w in words)
