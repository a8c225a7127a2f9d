"""The mean-pooling classifier head (fairseq wav2vec_classification, pooling "mean")."""

import pytest
import torch
import torch.nn.functional as F

from xlsr.models.classifier import ClassifierConfig, ClassifierModel, masked_mean
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config


def make(num_classes=3, **kw):
    torch.manual_seed(0)
    return ClassifierModel(
        random_encoder(tiny_config()), ClassifierConfig(num_classes, **kw)
    ).eval()


def test_fairseq_names_and_shapes():
    # Invariant: the released LID checkpoint's pooling keys map one to one.
    state = make(num_classes=5, latent_dim=16).state_dict()
    assert state["pooling_layer.linear.weight"].shape == (16, 32)  # (latent, D)
    assert state["pooling_layer.projection.weight"].shape == (5, 16)
    assert make().state_dict()["pooling_layer.linear.weight"].shape == (32, 32)  # latent 0 = D


def test_logits_follow_fairseq_order_and_ignore_padding():
    # Invariant: projection(gelu(mean over real frames of linear(hidden))); an utterance gives
    # the same logits alone and in a padded batch.
    model = make()
    wav, lengths = padded_batch([8000, 5000])
    with torch.no_grad():
        logits, frames = model(wav, lengths)
        hidden, _ = model.encoder(wav, lengths)
        head = model.pooling_layer
        n = int(frames[1])
        manual = head.projection(F.gelu(head.linear(hidden[1, :n]).mean(0)))
        alone, _ = model(wav[1:, :5000], lengths[1:])
    torch.testing.assert_close(logits[1], manual, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logits[1:], alone, rtol=1e-4, atol=1e-5)


def test_masked_mean():
    x = torch.arange(24, dtype=torch.float32).view(2, 4, 3)
    out = masked_mean(x, torch.tensor([2, 4]))
    torch.testing.assert_close(out, torch.stack([x[0, :2].mean(0), x[1].mean(0)]))


def test_loss_is_summed_cross_entropy_with_optional_smoothing():
    model = make()
    wav, lengths = padded_batch([6000, 6000, 7000])
    targets = torch.tensor([0, 2, 1])
    loss, info = model(wav, lengths, targets)
    logits, _ = model(wav, lengths)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, reduction="sum"))
    assert info["utterances"] == 3 and info["correct"] == float((logits.argmax(-1) == targets).sum())  # fmt: skip
    smooth = make(label_smoothing=0.1)
    assert not torch.allclose(smooth(wav, lengths, targets)[0], loss)
    with pytest.raises(ValueError, match="targets for 3 utterances"):
        model(wav, lengths, torch.tensor([0, 1]))


@pytest.mark.parametrize(
    "kw, message",
    [(dict(num_classes=1), "num_classes"), (dict(activation="swish"), "activation"),
     (dict(label_smoothing=1.0), "label_smoothing")],
)  # fmt: skip
def test_config_checks(kw, message):
    with pytest.raises(ValueError, match=message):
        ClassifierConfig(**{"num_classes": 3, **kw})


def test_embed_is_the_pooled_vector_and_ignores_padding():
    # Invariant: embed() is linear-then-mean over the real frames (before the activation and
    # the projection); an utterance's embedding alone equals its embedding in a padded batch.
    model = make(latent_dim=16)
    wav, lengths = padded_batch([8000, 5000])
    with torch.no_grad():
        emb, frames = model.embed(wav, lengths)
        alone, alone_frames = model.embed(wav[1:, :5000], lengths[1:])
        hidden, _ = model.encoder(wav, lengths)
        logits, _ = model(wav, lengths)
    head = model.pooling_layer
    assert emb.shape == (2, 16) and torch.equal(alone_frames, frames[1:])
    torch.testing.assert_close(emb[1:], alone, rtol=1e-4, atol=1e-5)
    n = int(frames[0])
    torch.testing.assert_close(emb[0], head.linear(hidden[0, :n]).mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, head.projection(F.gelu(emb)), rtol=1e-5, atol=1e-6)
