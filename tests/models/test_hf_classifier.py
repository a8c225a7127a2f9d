"""Hugging Face Wav2Vec2ForSequenceClassification directories as our ClassifierModel.

Invariants: the head maps key for key (projector -> pooling_layer.linear, classifier ->
pooling_layer.projection, no activation), the labels are config.id2label in id order, and
(modern lane) on a padded batch of raw waveforms our logits equal transformers' logits for the
feature extractor's output with its attention mask, relative error < 1e-4 (group-norm
extractors: transformers on each utterance alone, see xlsr.models.hf_classifier).
"""

import json

import numpy as np
import pytest
import torch

import xlsr
from xlsr.models.fairseq_hf import CheckpointError, load_encoder, read_safetensors
from xlsr.models.hf_classifier import load_hf_classifier
from xlsr.testing.checkpoints import (
    padded_batch,
    random_encoder,
    tiny_config,
    write_hf_classifier_dir,
    write_hf_dir,
)

LABELS = ["sw", "en", "ar", "zh"]
LENGTHS = [4000, 2900, 1650]


def raw_batch():
    """Zero-padded waveforms of another scale and offset per utterance (not normalised)."""
    wav, lengths = padded_batch(LENGTHS, seed=1)
    for i, n in enumerate(lengths.tolist()):
        wav[i, :n] = wav[i, :n] * (0.05 + 0.2 * i) + 0.01 * (i + 1)
    return wav, lengths


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def test_the_head_maps_key_for_key_and_labels_follow_the_ids(tmp_path):
    enc = random_encoder(tiny_config(), seed=2)
    path = write_hf_classifier_dir(enc, tmp_path / "hf", LABELS, proj_size=8)
    cfg = json.loads((path / "config.json").read_text())
    cfg["id2label"] = {str(i): LABELS[i] for i in (3, 1, 0, 2)}  # written out of order
    (path / "config.json").write_text(json.dumps(cfg))
    model, labels = load_hf_classifier(path)
    assert labels == LABELS and not model.training
    assert (model.cfg.latent_dim, model.cfg.activation) == (8, "linear")
    state = read_safetensors(path / "model.safetensors")
    wav, lengths = raw_batch()
    with torch.no_grad():
        hidden, frames = load_encoder(path).eval()(wav, lengths)
        logits, our_frames = model(wav, lengths)
    assert torch.equal(frames, our_frames)
    for b, n in enumerate(frames.tolist()):  # projector per frame, mean, classifier
        pooled = (hidden[b, :n] @ state["projector.weight"].T + state["projector.bias"]).mean(0)
        expected = pooled @ state["classifier.weight"].T + state["classifier.bias"]
        torch.testing.assert_close(logits[b], expected)


def test_layer_weights_and_the_transformers_version(tmp_path):
    # use_weighted_layer_sum: layer_weights maps as it is; the last hidden state is after the
    # final LayerNorm for a model transformers 4 wrote (no version: 4), before it for 5
    enc = random_encoder(tiny_config(), seed=2)
    path = write_hf_classifier_dir(enc, tmp_path / "hf", LABELS, weighted=True)
    model, _ = load_hf_classifier(path)
    state = read_safetensors(path / "model.safetensors")
    assert model.cfg.weighted_layer_sum and model.cfg.layer_sum_final_norm
    assert torch.equal(model.layer_weights.detach(), state["layer_weights"])
    cfg = json.loads((path / "config.json").read_text())
    (path / "config.json").write_text(json.dumps({**cfg, "transformers_version": "5.2.0"}))
    assert not load_hf_classifier(path)[0].cfg.layer_sum_final_norm


def test_what_is_not_a_sequence_classifier_is_refused(tmp_path):
    enc = random_encoder(tiny_config(), seed=2)
    ctc = write_hf_dir(enc, tmp_path / "ctc", "Wav2Vec2ForCTC")
    with pytest.raises(CheckpointError, match="Wav2Vec2ForCTC has no sequence classification"):
        load_hf_classifier(ctc)
    path = write_hf_classifier_dir(enc, tmp_path / "hf", LABELS)
    cfg = json.loads((path / "config.json").read_text())
    cfg["id2label"] = {"0": "a", "2": "b"}
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="id2label must map ids 0..N-1"):
        load_hf_classifier(path)
    cfg["id2label"] = {str(i): x for i, x in enumerate(LABELS[:3])}  # classifier has 4 rows
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"classifier.weight has shape \(4, 16\)"):
        load_hf_classifier(path)


def hf_classifier(transformers, tmp_path, stable: bool, mode: str, weighted: bool):
    """A random tiny Wav2Vec2ForSequenceClassification saved with save_pretrained (with a
    feature extractor that normalises), as XLS-R (stable, layer) or wav2vec2-base style."""
    cfg = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=[32] * 7,
        conv_bias=mode == "layer",
        feat_extract_norm=mode,
        do_stable_layer_norm=stable,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        final_dropout=0.0,
        layerdrop=0.0,
        classifier_proj_size=16,
        use_weighted_layer_sum=weighted,
        id2label=dict(enumerate(LABELS)),
        label2id={x: i for i, x in enumerate(LABELS)},
    )
    torch.manual_seed(0)
    hf = transformers.Wav2Vec2ForSequenceClassification(cfg)
    with torch.no_grad():  # LayerNorm gains, biases and layer weights random too
        for p in hf.parameters():
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
    hf.eval().save_pretrained(tmp_path / "hf")
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)
    extractor.save_pretrained(tmp_path / "hf")
    return hf, tmp_path / "hf"


def features(transformers, loaded, wav, lengths):
    """transformers' inputs: its feature extractor's output (normalised as our loader
    recorded) and attention mask."""
    extractor = transformers.Wav2Vec2FeatureExtractor(
        do_normalize=loaded.config["encoder"]["normalize_waveform"], return_attention_mask=True
    )
    utts = [np.asarray(w[:n]) for w, n in zip(wav, lengths.tolist())]
    out = extractor(utts, sampling_rate=16000, padding=True, return_tensors="pt")
    return out["input_values"], out["attention_mask"]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("stable, mode", [(True, "layer"), (False, "layer"), (False, "group")])
def test_logits_equal_transformers(tmp_path, stable, mode, weighted):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    hf, path = hf_classifier(transformers, tmp_path, stable, mode, weighted)
    loaded = xlsr.load_model(path)
    assert loaded.kind == "hf_classifier" and loaded.vocabulary == LABELS
    assert loaded.config["encoder"]["normalize_waveform"] is True  # preprocessor_config.json
    wav, lengths = raw_batch()
    values, mask = features(transformers, loaded, wav, lengths)
    with torch.no_grad():
        ours, frames = loaded.logits(wav, lengths)
        alone = [hf(values[i : i + 1, :n]).logits[0] for i, n in enumerate(lengths.tolist())]
        padded = hf(values, attention_mask=mask).logits
    errors = [rel_err(ours[i], alone[i]) for i in range(len(alone))]
    if mode == "layer":
        errors.append(rel_err(ours, padded))
    else:  # transformers' group norm runs over the padded length: its padded batch differs
        assert rel_err(padded[2], alone[2]) > 1e-3
    print(f"max relative error {max(errors):.2e} ({stable=}, {mode=}, {weighted=})")
    assert max(errors) < 1e-4
