"""The classifier head (fairseq wav2vec_classification's mean pooling and the issue 11
options: weighted layer sum, attentive statistics pooling, AAM softmax, frozen encoder), and
the encoder's hidden states that the weighted layer sum reads."""

import math

import pytest
import torch
import torch.nn.functional as F

import xlsr
from xlsr.models.classifier import (
    ClassifierConfig,
    ClassifierModel,
    add_angular_margin,
    masked_mean,
)
from xlsr.models.components import padding_mask
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config

LAYER_NORM_FIRST = [True, False]  # XLS-R (HF do_stable_layer_norm) and the post-norm variant


def make(num_classes=3, encoder_cfg=None, **kw):
    torch.manual_seed(0)
    encoder = random_encoder(encoder_cfg or tiny_config())
    return ClassifierModel(encoder, ClassifierConfig(num_classes, **kw)).eval()


def close(a, b, tol=1e-5):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


# ------------------------------------------------------------------ mean pooling (default)


def test_fairseq_names_and_shapes():
    # Invariant: the released LID checkpoint's pooling keys map one to one.
    state = make(num_classes=5, latent_dim=16).state_dict()
    assert state["pooling_layer.linear.weight"].shape == (16, 32)  # (latent, D)
    assert state["pooling_layer.projection.weight"].shape == (5, 16)
    assert make().state_dict()["pooling_layer.linear.weight"].shape == (32, 32)  # latent 0 = D
    assert not [k for k in state if not k.startswith(("encoder.", "pooling_layer."))]


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
    close(logits[1], manual)
    torch.testing.assert_close(logits[1:], alone, rtol=1e-4, atol=1e-5)


def test_masked_mean():
    x = torch.arange(24, dtype=torch.float32).view(2, 4, 3)
    out = masked_mean(x, torch.tensor([2, 4]))
    torch.testing.assert_close(out, torch.stack([x[0, :2].mean(0), x[1].mean(0)]))


def test_loss_is_summed_cross_entropy_with_optional_smoothing():
    # Invariant: the loss is the summed cross-entropy of the returned logits; `correct` counts
    # their argmax hits.
    model = make()
    wav, lengths = padded_batch([6000, 6000, 7000])
    targets = torch.tensor([0, 2, 1])
    loss, info = model(wav, lengths, targets)
    logits, _ = model(wav, lengths)
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets, reduction="sum"))
    assert info["utterances"] == 3
    assert info["correct"] == float((logits.argmax(-1) == targets).sum())
    smooth = make(label_smoothing=0.1)
    expected = F.cross_entropy(logits, targets, reduction="sum", label_smoothing=0.1)
    torch.testing.assert_close(smooth(wav, lengths, targets)[0], expected)
    with pytest.raises(ValueError, match="targets for 3 utterances"):
        model(wav, lengths, torch.tensor([0, 1]))


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
    assert emb.shape == (2, 16) == (2, model.embedding_dim)
    assert torch.equal(alone_frames, frames[1:])
    torch.testing.assert_close(emb[1:], alone, rtol=1e-4, atol=1e-5)
    n = int(frames[0])
    close(emb[0], head.linear(hidden[0, :n]).mean(0))
    close(logits, head.projection(F.gelu(emb)))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(num_classes=1), "num_classes"),
        (dict(latent_dim=-1), "latent_dim must be >= 0"),
        (dict(activation="swish"), "activation"),
        (dict(label_smoothing=1.0), "label_smoothing"),
        (dict(pooling="max"), "pooling must be one of .* got 'max'"),
        (dict(attention_dim=0), "attention_dim must be >= 1, got 0"),
        (dict(loss="triplet"), "loss must be one of .* got 'triplet'"),
        (dict(aam_margin=20.0), r"aam_margin must be in \[0, pi/2\) radians, got 20.0"),
        (dict(aam_margin=-0.1), "aam_margin"),
        (dict(aam_scale=0.0), "aam_scale must be > 0, got 0.0"),
    ],
)
def test_config_checks(kw, message):
    with pytest.raises(ValueError, match=message):
        ClassifierConfig(**{"num_classes": 3, **kw})


# ------------------------------------------------------------------ encoder hidden states


@pytest.mark.parametrize("layer_norm_first", LAYER_NORM_FIRST)
def test_hidden_states_chain_the_layers_and_end_at_the_output(layer_norm_first):
    # Invariant: num_layers + 1 states; state 0 is the first layer's input (positional conv
    # added to the zero-padded projection, plus the LayerNorm in the post-norm variant);
    # state i + 1 = layer i (state i); the last state is forward()'s output, and without
    # final_norm it is the last layer's output before the final LayerNorm.
    enc = random_encoder(tiny_config(layer_norm_first=layer_norm_first, num_layers=3))
    wav, lengths = padded_batch([4000, 2500])
    with torch.no_grad():
        states, frames = enc.hidden_states(wav, lengths)
        raw, _ = enc.hidden_states(wav, lengths, final_norm=False)
        out, out_frames = enc(wav, lengths)
        x, pad, _ = enc._transformer_input(wav, lengths, mask=False)
        x = x.masked_fill(pad[..., None], 0.0)
        first = x + enc.encoder.pos_conv(x)
        first = first if layer_norm_first else enc.encoder.layer_norm(first)
        chained = [layer(s, pad) for layer, s in zip(enc.encoder.layers, raw)]
    assert len(states) == 4 and torch.equal(frames, out_frames)
    assert torch.equal(states[-1], out)
    close(states[0], first)
    for after, expected in zip(raw[1:], chained):
        close(after, expected)
    assert all(torch.equal(a, b) for a, b in zip(states[:-1], raw[:-1]))
    last = enc.encoder.layer_norm(raw[-1]) if layer_norm_first else raw[-1]
    close(last, out)


def test_hidden_states_repeat_a_layer_layerdrop_skipped():
    # Invariant: in training, a layer LayerDrop skips leaves the state unchanged, so its
    # entry repeats the one before (the list keeps num_layers + 1 entries).
    enc = random_encoder(tiny_config(num_layers=3, layerdrop=0.5)).train()
    enc.encoder.layers_to_drop = lambda: torch.tensor([False, True, False])
    wav, lengths = padded_batch([4000, 2500])
    with torch.no_grad():
        states, frames = enc.hidden_states(wav, lengths, mask=False, final_norm=False)
        pad = padding_mask(frames, states[0].shape[1])
        third = enc.encoder.layers[2](states[2], pad)
    assert len(states) == 4
    assert torch.equal(states[2], states[1]) and not torch.equal(states[1], states[0])
    close(states[3], third)


@pytest.mark.parametrize("layer_norm_first", LAYER_NORM_FIRST)
def test_hidden_states_match_transformers(tmp_path, layer_norm_first):
    # Invariant: on every real frame, our states equal transformers' output_hidden_states for
    # the same weights and attention mask (relative error < 1e-4). For the stable-layer-norm
    # kind transformers 4.x gave the last state after the final LayerNorm, 5.x before it:
    # final_norm says which.
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    hf = hf_model(transformers, transformers.Wav2Vec2Model, layer_norm_first, tmp_path)
    enc = xlsr.load_encoder(tmp_path).eval()
    wav, lengths = padded_batch([4000, 2900, 1650])
    mask = (torch.arange(wav.shape[1])[None] < lengths[:, None]).long()
    final_norm = int(transformers.__version__.split(".")[0]) < 5
    with torch.no_grad():
        theirs = hf(wav, attention_mask=mask, output_hidden_states=True).hidden_states
        ours, frames = enc.hidden_states(wav, lengths, final_norm=final_norm)
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        for i, n in enumerate(frames.tolist()):
            assert rel_err(a[i, :n], b[i, :n]) < 1e-4


def hf_model(transformers, cls, layer_norm_first, path, **extra):
    """A random tiny transformers model of ``cls`` (1-D parameters random too), saved at
    ``path`` and returned in eval mode."""
    cfg = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=[32] * 7,
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=layer_norm_first,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
        **extra,
    )
    torch.manual_seed(0)
    model = cls(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    model.eval().save_pretrained(path)
    return model


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


# ------------------------------------------------------------------ weighted layer sum


def test_weighted_layer_sum_parameter_and_one_hot_weights():
    # Invariant: layer_weights (num_layers + 1,) starts at 1 / (L + 1) (HF's init); with
    # one-hot weights the pooling reads exactly the chosen hidden state, and the last one is
    # the normal encoder output (so the logits equal the plain model's).
    model = make(weighted_layer_sum=True, encoder_cfg=tiny_config(num_layers=3))
    plain = make(encoder_cfg=tiny_config(num_layers=3))
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "layer_weights"})
    torch.testing.assert_close(model.layer_weights.detach(), torch.full((4,), 0.25))
    wav, lengths = padded_batch([6000, 4000])
    with torch.no_grad():
        states, frames = model.encoder.hidden_states(wav, lengths)
        for k in range(4):
            model.layer_weights.fill_(float("-inf"))
            model.layer_weights[k] = 0.0
            hidden, _ = model.features(wav, lengths)
            assert torch.equal(hidden, states[k])
        logits, _ = model(wav, lengths)
        expected, _ = plain(wav, lengths)
        model.layer_weights.copy_(torch.tensor([0.3, -1.0, 2.0, 0.5]))
        mixed, _ = model.features(wav, lengths)
    assert torch.equal(logits, expected)
    w = torch.softmax(torch.tensor([0.3, -1.0, 2.0, 0.5]), 0)
    close(mixed, sum(wk * s for wk, s in zip(w, states)))


@pytest.mark.parametrize("layer_norm_first", LAYER_NORM_FIRST)
def test_weighted_layer_sum_matches_transformers_sequence_classification(
    tmp_path, layer_norm_first
):
    # Invariant: with HF's projector -> linear, classifier -> projection, layer_weights by
    # name and no activation, our logits equal Wav2Vec2ForSequenceClassification's with
    # use_weighted_layer_sum (relative error < 1e-4) once layer_sum_final_norm follows the
    # transformers version; for the stable-layer-norm kind the other setting differs.
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    cls = transformers.Wav2Vec2ForSequenceClassification
    extra = dict(use_weighted_layer_sum=True, classifier_proj_size=16, num_labels=5)
    hf = hf_model(transformers, cls, layer_norm_first, tmp_path, **extra)
    final_norm = int(transformers.__version__.split(".")[0]) < 5
    wav, lengths = padded_batch([4000, 2900, 1650])
    mask = (torch.arange(wav.shape[1])[None] < lengths[:, None]).long()
    outputs = {}
    for setting in (final_norm, not final_norm):
        cfg = ClassifierConfig(
            5, 16, "linear", weighted_layer_sum=True, layer_sum_final_norm=setting
        )
        model = ClassifierModel(xlsr.load_encoder(tmp_path), cfg).eval()
        with torch.no_grad():
            model.pooling_layer.linear.load_state_dict(hf.projector.state_dict())
            model.pooling_layer.projection.load_state_dict(hf.classifier.state_dict())
            model.layer_weights.copy_(hf.layer_weights)
            outputs[setting] = model(wav, lengths)[0]
    with torch.no_grad():
        theirs = hf(wav, attention_mask=mask).logits
    assert rel_err(outputs[final_norm], theirs) < 1e-4
    if layer_norm_first:
        assert rel_err(outputs[not final_norm], theirs) > 1e-3


# ------------------------------------------------------------------ attentive statistics pooling


def test_attentive_stats_pooling_shapes_and_direct_computation():
    # Invariant: scores from Linear(latent -> attention_dim), tanh, Linear(-> 1); softmax over
    # the real frames; embedding = [weighted mean, sqrt(weighted variance)] (2 * latent);
    # logits = projection(gelu(embedding)); the mean pooling's names stay.
    model = make(num_classes=4, latent_dim=16, pooling="attentive_stats", attention_dim=8)
    state = model.state_dict()
    assert state["pooling_layer.linear.weight"].shape == (16, 32)
    assert state["pooling_layer.attention_linear.weight"].shape == (8, 16)
    assert state["pooling_layer.attention_score.weight"].shape == (1, 8)
    assert state["pooling_layer.projection.weight"].shape == (4, 32)
    assert model.embedding_dim == 32
    assert make(pooling="attentive_stats").pooling_layer.attention_linear.out_features == 128
    wav, lengths = padded_batch([8000, 5000])
    head = model.pooling_layer
    with torch.no_grad():
        emb, frames = model.embed(wav, lengths)
        logits, _ = model(wav, lengths)
        hidden, _ = model.encoder(wav, lengths)
        for i, n in enumerate(frames.tolist()):
            x = head.linear(hidden[i, :n])  # (n, latent)
            scores = head.attention_score(torch.tanh(head.attention_linear(x)))[:, 0]
            w = torch.softmax(scores, 0)
            mean = (w[:, None] * x).sum(0)
            std = ((w[:, None] * (x - mean) ** 2).sum(0)).sqrt()
            close(emb[i], torch.cat([mean, std]))
    close(logits, head.projection(F.gelu(emb)))


def test_attentive_stats_pooling_ignores_padding():
    # Invariant: an utterance's embedding and logits are the same alone and in a padded batch,
    # whatever the padded frames hold.
    model = make(pooling="attentive_stats", latent_dim=16, attention_dim=8)
    wav, lengths = padded_batch([8000, 5000], pad_value=3.0)
    with torch.no_grad():
        emb, _ = model.embed(wav, lengths)
        logits, frames = model(wav, lengths)
        alone_emb, _ = model.embed(wav[1:, :5000], lengths[1:])
        alone_logits, _ = model(wav[1:, :5000], lengths[1:])
        hidden, _ = model.encoder(wav, lengths)
        garbage = hidden.clone()
        garbage[1, int(frames[1]) :] = 1e4
        pooled = model.pooling_layer.embed(garbage, frames)
    torch.testing.assert_close(emb[1:], alone_emb, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits[1:], alone_logits, rtol=1e-4, atol=1e-5)
    close(pooled, emb)


def test_attentive_stats_of_one_frame_has_a_finite_gradient():
    # Invariant: one real frame has zero variance; the clamped variance keeps the gradient
    # finite (std = sqrt of the floor).
    model = make(pooling="attentive_stats", latent_dim=8, attention_dim=4)
    hidden = torch.randn(2, 5, 32, requires_grad=True)
    emb = model.pooling_layer.embed(hidden, torch.tensor([1, 5]))
    emb.sum().backward()
    assert torch.isfinite(hidden.grad).all()
    close(emb[0, 8:], torch.full((8,), 1e-3))


# ------------------------------------------------------------------ AAM softmax


def direct_margin(c, m):
    """ArcFace's target cosine for one cosine c (the fallback past theta = pi - m)."""
    theta = math.acos(c)
    return math.cos(theta + m) if theta + m <= math.pi else c - m * math.sin(m)


def test_add_angular_margin_against_direct_computation():
    # Invariant: the target entry becomes cos(theta + m), or cos(theta) - m sin(m) where
    # theta + m > pi; the other entries stay; the gradient is finite at cos = +-1.
    m = 0.5
    cos = torch.tensor([[0.9, -0.2, 0.3], [-0.95, 0.1, 0.4], [1.0, -1.0, 0.0]])
    targets = torch.tensor([0, 0, 1])
    out = add_angular_margin(cos, targets, m)
    expected = cos.clone()
    for i, t in enumerate(targets.tolist()):
        expected[i, t] = direct_margin(float(cos[i, t]), m)
    close(out, expected)
    assert math.acos(-0.95) + m > math.pi  # the fallback is exercised
    leaf = cos.clone().requires_grad_()
    add_angular_margin(leaf, torch.tensor([0, 1, 0]), m).sum().backward()
    assert torch.isfinite(leaf.grad).all()


def test_aam_logits_and_loss_against_direct_computation():
    # Invariant: logits = s cos(theta) between gelu(embedding) and the rows of
    # projection.weight (bias unused); the loss is the smoothed, summed cross-entropy of
    # s cos(theta + m) at the target and s cos(theta) elsewhere.
    m, s = 0.3, 20.0
    model = make(4, latent_dim=16, loss="aam", aam_margin=m, aam_scale=s, label_smoothing=0.1)
    wav, lengths = padded_batch([6000, 5000, 7000])
    targets = torch.tensor([2, 0, 3])
    with torch.no_grad():
        model.pooling_layer.projection.bias.fill_(100.0)  # must not matter
        logits, _ = model(wav, lengths)
        loss, info = model(wav, lengths, targets)
        emb, _ = model.embed(wav, lengths)
    weight = model.pooling_layer.projection.weight.detach()
    margin_logits = torch.empty(3, 4)
    for i in range(3):
        v = F.gelu(emb[i])
        for c in range(4):
            cos = float(v @ weight[c] / (v.norm() * weight[c].norm()))
            close(logits[i, c], torch.tensor(s * cos), 1e-4)
            margin_logits[i, c] = s * (direct_margin(cos, m) if c == targets[i] else cos)
    expected = F.cross_entropy(margin_logits, targets, reduction="sum", label_smoothing=0.1)
    close(loss, expected, 1e-4)
    assert info["correct"] == float((logits.argmax(-1) == targets).sum())


# ------------------------------------------------------------------ frozen encoder


def test_frozen_encoder_gets_no_gradients_and_stays_in_eval_mode():
    # Invariant: with freeze_encoder, after a backward pass every encoder parameter's grad is
    # None and every head parameter has one (layer_weights too); the encoder stays in eval
    # mode under model.train(), so dropout, masking and LayerDrop are off: train-mode
    # outputs equal eval-mode ones (and differ without freeze_encoder).
    enc_cfg = tiny_config(dropout=0.2, mask_prob=0.5, mask_length=2, layerdrop=0.5)
    model = make(weighted_layer_sum=True, freeze_encoder=True, encoder_cfg=enc_cfg)
    wav, lengths = padded_batch([6000, 5000])
    with torch.no_grad():
        eval_logits, _ = model.eval()(wav, lengths)
    model.train()
    assert model.training and model.pooling_layer.training and not model.encoder.training
    loss, _ = model(wav, lengths, torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    assert len(head) == 5 and all(p.grad is not None and p.grad.abs().sum() > 0 for p in head)
    with torch.no_grad():
        torch.testing.assert_close(model(wav, lengths)[0], eval_logits)
        unfrozen = make(weighted_layer_sum=True, encoder_cfg=enc_cfg).train()
        assert not torch.allclose(unfrozen(wav, lengths)[0], eval_logits)


def test_trainer_freeze_flag_still_freezes_while_training():
    # Invariant: the trainer's model.freeze_encoder (fairseq freeze_finetune_updates) keeps
    # the encoder without gradients in training mode, as before.
    model = make().train()
    model.freeze_encoder = True
    wav, lengths = padded_batch([6000, 5000])
    model(wav, lengths, torch.tensor([0, 2]))[0].backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.pooling_layer.linear.weight.grad is not None
