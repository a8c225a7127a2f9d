"""The encoder itself: shapes, padding, input checks, masking, LayerDrop, gradients."""

import pytest
import torch

from xlsr.models import XLSREncoder, preset, xlsr_300m
from xlsr.models.components import (
    HAS_SDPA,
    ConvBlock,
    SelfAttention,
    compute_span_mask,
    conv_output_lengths,
)
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config

VARIANTS = [(True, "layer_norm"), (False, "default"), (False, "layer_norm"), (True, "default")]


def test_output_shapes_and_lengths():
    enc = random_encoder(tiny_config())
    wav, lengths = padded_batch([4000, 3000, 1600])
    hidden, frames = enc(wav, lengths)
    assert hidden.shape == (3, 12, 32)
    # 20 ms frames: floor((L - 400) / 320) + 1 for the standard conv stack
    assert frames.tolist() == [(n - 400) // 320 + 1 for n in (4000, 3000, 1600)]
    assert frames.tolist() == conv_output_lengths(lengths, enc.cfg.conv_layers).tolist()


@pytest.mark.parametrize("layer_norm_first,mode", VARIANTS)
def test_padding_does_not_change_real_frames(layer_norm_first, mode):
    # Invariant: an utterance encoded alone equals its real frames in a padded batch,
    # whatever the padding holds (here 3.0, not zeros) and in both extractor modes.
    enc = random_encoder(tiny_config(layer_norm_first=layer_norm_first, extractor_mode=mode))
    wav, lengths = padded_batch([4000, 2500, 1200], pad_value=3.0)
    with torch.no_grad():
        hidden, frames = enc(wav, lengths)
        for i in range(3):
            alone, _ = enc(wav[i : i + 1, : lengths[i]])
            n = int(frames[i])
            assert alone.shape[1] == n
            torch.testing.assert_close(hidden[i, :n], alone[0], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_SDPA, reason="torch < 2.0 has no scaled_dot_product_attention")
def test_sdpa_and_explicit_attention_agree():
    enc = random_encoder(tiny_config())
    wav, lengths = padded_batch([4000, 2000])
    with torch.no_grad():
        fast, _ = enc(wav, lengths)
        SelfAttention.use_sdpa = False
        try:
            slow, _ = enc(wav, lengths)
        finally:
            SelfAttention.use_sdpa = True
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "wav,lengths,match",
    [
        (torch.zeros(4000), None, r"\(batch, samples\), got shape \(4000,\)"),
        (torch.zeros(2, 4000, dtype=torch.int16), None, "floating point, got dtype torch.int16"),
        (torch.zeros(2, 4000), torch.tensor([4000]), r"lengths must be a \(2,\) tensor"),
        (torch.zeros(2, 4000), torch.tensor([4000.0, 10.0]), "lengths must be integers"),
        (torch.zeros(2, 4000), torch.tensor([4001, 4000]), "exceeds samples 4000"),
        (torch.zeros(2, 4000), torch.tensor([4000, 399]), r"utterances \[1\] have fewer than 400"),
    ],
)
def test_bad_inputs_raise_clear_errors(wav, lengths, match):
    enc = random_encoder(tiny_config())
    with pytest.raises(ValueError, match=match):
        enc(wav, lengths)


def test_span_mask_covers_about_prob_and_never_padding():
    lengths = torch.tensor([500, 300, 50])
    mask = compute_span_mask((3, 500), lengths, prob=0.5, span=10)
    assert not mask[1, 300:].any() and not mask[2, 50:].any()
    frac = mask[0].float().mean().item()
    assert 0.25 < frac < 0.55  # spans overlap, so a bit under prob on average
    assert not compute_span_mask((1, 8), torch.tensor([8]), 0.9, 10).any()  # shorter than a span


def test_time_and_channel_masking_in_training_only():
    cfg = tiny_config(mask_prob=0.5, mask_length=2, mask_channel_prob=0.3, mask_channel_length=4)
    enc = random_encoder(cfg)
    x = torch.randn(2, 40, 32)
    frames = torch.tensor([40, 30])
    masked = enc.apply_mask(x, frames)
    time_masked = (masked == enc.mask_emb).all(-1) | ((masked == 0) | (masked == enc.mask_emb)).all(
        -1
    )
    assert time_masked[:, :30].any()
    zero_channels = (masked == 0).all(1)  # (B, D): channels zeroed over every frame
    assert zero_channels.any()
    assert not time_masked[1, 30:].any()  # padding is never time-masked
    wav, lengths = padded_batch([4000, 3000])
    enc.eval()
    with torch.no_grad():
        a, _ = enc(wav, lengths)
        b, _ = enc(wav, lengths)
        c, _ = enc(wav, lengths, mask=True)
    torch.testing.assert_close(a, b)  # eval: no masking, deterministic
    assert not torch.allclose(a, c)


def test_layerdrop_is_the_same_on_every_replica_and_off_in_eval():
    cfg = tiny_config(num_layers=6, layerdrop=0.5, layerdrop_seed=7)
    a, b = random_encoder(cfg, seed=1), random_encoder(cfg, seed=1)
    a.train(), b.train()
    drops_a = [a.encoder.layers_to_drop().tolist() for _ in range(20)]
    drops_b = [b.encoder.layers_to_drop().tolist() for _ in range(20)]
    assert drops_a == drops_b  # replicas at the same step drop the same layers
    assert len({tuple(d) for d in drops_a}) > 1  # and the draw changes from step to step
    assert 0.3 < sum(map(sum, drops_a)) / (20 * 6) < 0.7


def test_layerdrop_skips_layers_and_their_gradients():
    cfg = tiny_config(num_layers=4, layerdrop=0.5, layerdrop_seed=3)
    enc = random_encoder(cfg).train()
    wav, lengths = padded_batch([4000, 3000])
    step = enc.encoder.layerdrop_step
    dropped = enc.encoder.layers_to_drop()
    enc.encoder.layerdrop_step = step  # replay the same draw in the forward below
    assert dropped.any() and not dropped.all()
    hidden, _ = enc(wav, lengths, mask=False)
    hidden.sum().backward()
    for i, layer in enumerate(enc.encoder.layers):
        got_grad = layer.fc1.weight.grad is not None
        assert got_grad != bool(dropped[i])


def test_layerdrop_one_leaves_no_layers():
    enc = random_encoder(tiny_config(layerdrop=1.0)).train()
    wav, lengths = padded_batch([3000])
    hidden, _ = enc(wav, lengths, mask=False)
    with torch.no_grad():
        feats, _ = enc.extract_conv_features(wav, lengths)
        x = enc.feature_projection(feats)
        expected = enc.encoder.layer_norm(x + enc.encoder.pos_conv(x))
    torch.testing.assert_close(hidden, expected)


@pytest.mark.parametrize("mult", [0.0, 0.5])
def test_feature_grad_mult(mult):
    wav, lengths = padded_batch([4000, 3000])
    grads = {}
    for m in (1.0, mult):
        enc = random_encoder(tiny_config(feature_grad_mult=m)).train()
        hidden, _ = enc(wav, lengths, mask=False)
        hidden.pow(2).sum().backward()
        grads[m] = enc.feature_extractor.conv_layers[0].conv.weight.grad
        assert enc.feature_projection.projection.weight.grad is not None
    if mult == 0.0:
        assert grads[0.0] is None  # frozen feature encoder: no gradient at all
    else:
        torch.testing.assert_close(grads[mult], grads[1.0] * mult)


def test_activation_checkpointing_gives_the_same_gradients():
    wav, lengths = padded_batch([4000, 3000])
    results = []
    for ckpt in (False, True):
        cfg = tiny_config(dropout=0.1, attention_dropout=0.1, checkpoint_activations=ckpt)
        enc = random_encoder(cfg).train()
        torch.manual_seed(123)
        hidden, _ = enc(wav, lengths, mask=False)
        hidden.pow(2).sum().backward()
        results.append((hidden.detach(), {n: p.grad for n, p in enc.named_parameters()}))
    torch.testing.assert_close(results[0][0], results[1][0])
    for name, g in results[0][1].items():
        if g is not None:
            torch.testing.assert_close(g, results[1][1][name], rtol=1e-5, atol=1e-6, msg=name)


def test_presets_have_the_papers_dimensions():
    expected = {
        "xlsr_300m": (24, 1024, 4096, 16),
        "xlsr_1b": (48, 1280, 5120, 16),
        "xlsr_2b": (48, 1920, 7680, 16),
    }
    for name, dims in expected.items():
        c = preset(name)
        assert (c.num_layers, c.embed_dim, c.ffn_dim, c.num_heads) == dims
        assert c.layer_norm_first and c.extractor_mode == "layer_norm" and c.conv_bias
    with pytest.raises(ValueError, match="unknown encoder preset"):
        preset("xlsr_5b")


def test_xlsr_300m_parameter_count():
    # XLS-R 300M: 315.4M parameters in the encoder (without quantizer and heads)
    n = XLSREncoder(xlsr_300m(num_layers=24)).num_parameters()
    assert 315_000_000 < n < 316_000_000, n


@pytest.mark.parametrize("mode", ["layer_norm", "default"])
def test_unfold_and_conv1d_paths_agree(mode):
    # The CPU path computes each conv as unfold + matmul; accelerators use conv1d.
    enc = random_encoder(tiny_config(extractor_mode=mode))
    wav, lengths = padded_batch([4000, 2000])
    outputs = []
    for unfold in (True, False):
        ConvBlock.use_unfold = unfold
        try:
            outputs.append(enc(wav, lengths)[0])
        finally:
            ConvBlock.use_unfold = None
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-5)
