"""The ST model: adaptor lengths and padding, decoder causality and padding, incremental
decoding, the loss, fairseq key names, and logits parity with Hugging Face's mBART decoder."""

import pytest
import torch
import torch.nn.functional as F

from xlsr.models.adaptor import Conv1dAdaptor, adaptor_output_lengths
from xlsr.models.st import (
    FAIRSEQ_ST_KEYS,
    HF_DECODER_KEYS,
    StConfig,
    StModel,
    StTargets,
    map_state_dict,
    reorder_cache,
    st_tiny,
)
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config

PAD, EOS = 1, 2
#: fairseq xm_transformer module prefixes -> ours, spelt out independently of FAIRSEQ_ST_KEYS
FAIRSEQ_PREFIXES = (
    ("encoder.w2v_encoder.proj.", "encoder_proj."),
    ("encoder.w2v_proj_ln.", "encoder_proj_ln."),
    ("encoder.adaptor.", "adaptor."),
    ("decoder.", "decoder."),
)


def randomize(module, seed=0):
    """Random weights everywhere (LayerNorm gains and biases too, so swapped keys show)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g) + (p.dim() == 1) * 0.5)
    return module


def small_cfg(**kw):
    base = dict(
        vocab_size=20,
        decoder_embed_dim=24,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_embed_dim=48,
        max_target_positions=32,
        adaptor_layers=2,
        encoder_proj=True,
        encoder_proj_layer_norm=True,
        ctc_weight=0.5,
        source_vocab_size=7,
    )
    return StConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = StModel(random_encoder(tiny_config(), seed=1), small_cfg())
    randomize(m.decoder, seed=2)
    return m.eval()


def tokens(b, u, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 20, (b, u), generator=g)


def test_adaptor_lengths_and_padding_invariance():
    torch.manual_seed(0)
    adaptor = Conv1dAdaptor(8, 6, num_layers=3, kernel=3, stride=2).eval()
    lengths = torch.tensor([17, 9, 4, 1])
    # invariant: floor((L - 1) / 2) + 1 per layer: 17 -> 9 -> 5 -> 3, 4 -> 2 -> 1 -> 1
    assert adaptor_output_lengths(lengths, 3, 2).tolist() == [3, 2, 1, 1]
    x = torch.randn(4, 17, 8)
    y, out_lengths = adaptor(x, lengths)
    assert out_lengths.tolist() == [3, 2, 1, 1] and y.shape == (4, 3, 6)
    # invariant: an utterance alone (its real frames only) == its rows in the padded batch,
    # and the padded output frames are zero
    for i, n in enumerate(lengths.tolist()):
        alone, k = adaptor(x[i : i + 1, :n], lengths[i : i + 1])
        assert alone.shape[1] == int(k)
        torch.testing.assert_close(y[i, : int(k)], alone[0], rtol=1e-5, atol=1e-6)
        assert bool((y[i, int(k) :] == 0).all())


def test_memory_of_an_utterance_alone_equals_it_in_a_padded_batch(model):
    wav, lengths = padded_batch([4000, 2400])
    with torch.no_grad():
        memory, mem_lengths = model.encode_for_decoder(wav, lengths)
        alone, alone_lengths = model.encode_for_decoder(wav[1:, :2400], lengths[1:])
    assert memory.shape == (2, int(mem_lengths.max()), 24)
    n = int(alone_lengths[0])
    assert int(mem_lengths[1]) == n
    # invariant: padding changes neither the real memory frames nor the decoder's logits
    torch.testing.assert_close(memory[1, :n], alone[0], rtol=1e-4, atol=1e-5)
    prev = tokens(2, 5)
    with torch.no_grad():
        batch_logits = model.decoder_logits(memory, mem_lengths, prev)
        alone_logits = model.decoder_logits(alone, alone_lengths, prev[1:])
    torch.testing.assert_close(batch_logits[1], alone_logits[0], rtol=1e-4, atol=1e-4)


def test_decoder_is_causal(model):
    memory, mem_lengths = torch.randn(2, 6, 24), torch.tensor([6, 4])
    prev = tokens(2, 7)
    with torch.no_grad():
        ref = model.decoder_logits(memory, mem_lengths, prev)
        for u in range(6):
            changed = prev.clone()
            changed[:, u + 1 :] = tokens(2, 6 - u, seed=u + 1)
            out = model.decoder_logits(memory, mem_lengths, changed)
            # invariant: tokens after u do not change the logits at positions <= u
            torch.testing.assert_close(out[:, : u + 1], ref[:, : u + 1])


def test_decoder_padding_invariance(model):
    memory = torch.randn(2, 6, 24)
    prev = tokens(2, 7)
    prev[1, 4:] = PAD
    with torch.no_grad():
        batch = model.decoder_logits(memory, torch.tensor([6, 3]), prev)
        alone = model.decoder_logits(memory[1:, :3], torch.tensor([3]), prev[1:, :4])
        moved = memory.clone()
        moved[1, 3:] = 100.0  # padded memory frames
        batch2 = model.decoder_logits(moved, torch.tensor([6, 3]), prev)
    # invariant: target padding and memory padding leave the real positions' logits alone
    torch.testing.assert_close(batch[1, :4], alone[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batch2[1, :4], batch[1, :4])


def test_decode_step_equals_full_forward_at_every_position(model):
    memory, mem_lengths = torch.randn(3, 5, 24), torch.tensor([5, 2, 4])
    prev = tokens(3, 6)
    with torch.no_grad():
        full = model.decoder_logits(memory, mem_lengths, prev).log_softmax(-1)
        cache = None
        for u in range(prev.shape[1]):
            step, cache = model.decode_step(memory, mem_lengths, prev[:, : u + 1], cache)
            # invariant: the cached step equals the teacher-forced forward at position u
            torch.testing.assert_close(step, full[:, u], rtol=1e-4, atol=1e-5)
        # invariant: a reordered cache continues as the reordered batch would
        order = torch.tensor([2, 0, 0])
        moved = reorder_cache(cache, order)
        nxt = torch.cat([prev[order], tokens(3, 1, seed=9)], 1)
        step, _ = model.decode_step(memory[order], mem_lengths[order], nxt, moved)
        ref = model.decoder_logits(memory[order], mem_lengths[order], nxt).log_softmax(-1)
    torch.testing.assert_close(step, ref[:, -1], rtol=1e-4, atol=1e-5)


def test_loss_is_label_smoothed_ce_plus_weighted_ctc(model):
    wav, lengths = padded_batch([4000, 3200])
    prev = torch.tensor([[EOS, 5, 6, 7], [EOS, 8, 9, PAD]])
    target = torch.tensor([[5, 6, 7, EOS], [8, 9, EOS, PAD]])
    source = torch.tensor([[3, 4, 5], [6, 2, 0]])
    source_lengths = torch.tensor([3, 2])
    targets = {"prev_output_tokens": prev, "target": target, "source": source}
    targets["source_lengths"] = source_lengths
    with torch.no_grad():
        loss, info = model(wav, lengths, targets)
        hidden, frames = model.encode(wav, lengths)
        memory, mem_lengths = model.encode_for_decoder(wav, lengths)
        lprobs = model.decoder_logits(memory, mem_lengths, prev).log_softmax(-1)
        ctc_lp = model.ctc_head(hidden).log_softmax(-1)
    # invariant: CE against 1 - eps on the target and eps / (V - 1) on every other token,
    # summed over the 7 non-pad tokens, plus 0.5 * summed CTC of the source transcripts
    eps, v = 0.1, 20
    q = torch.full_like(lprobs, eps / (v - 1)).scatter(-1, target[..., None], 1 - eps)
    keep = target != PAD
    ce = -(q * lprobs).sum(-1)[keep].sum()
    nll = -lprobs.gather(-1, target[..., None]).squeeze(-1)[keep].sum()
    ctc = F.ctc_loss(
        ctc_lp.transpose(0, 1), source, frames, source_lengths, blank=0, reduction="sum"
    )
    torch.testing.assert_close(loss, ce + 0.5 * ctc, rtol=1e-5, atol=1e-4)
    assert info["tokens"] == 7 and info["utterances"] == 2
    assert info["frames"] == float(frames.sum())
    assert info["nll"] == pytest.approx(float(nll), rel=1e-5)
    assert info["ctc_loss"] == pytest.approx(float(ctc), rel=1e-5)
    assert info["correct"] == float((lprobs.argmax(-1) == target)[keep].sum())


def test_fairseq_keys_load_one_to_one(model):
    d, c = 24, model.encoder.output_dim
    # fairseq xm_transformer names and shapes, spelt out here (not derived from the map)
    shapes = {
        "encoder.w2v_encoder.proj.weight": (d, c),
        "encoder.w2v_encoder.proj.bias": (d,),
        "encoder.w2v_proj_ln.weight": (d,),
        "encoder.w2v_proj_ln.bias": (d,),
        "encoder.adaptor.layers.0.weight": (2 * d, d, 3),
        "encoder.adaptor.layers.1.weight": (2 * d, d, 3),
        "encoder.adaptor.layers.1.bias": (2 * d,),
        "decoder.embed_tokens.weight": (20, d),
        "decoder.embed_positions.weight": (32 + 2, d),
        "decoder.layernorm_embedding.weight": (d,),
        "decoder.layers.1.self_attn.k_proj.weight": (d, d),
        "decoder.layers.1.encoder_attn.out_proj.bias": (d,),
        "decoder.layers.0.encoder_attn_layer_norm.weight": (d,),
        "decoder.layers.1.fc1.weight": (48, d),
        "decoder.layers.1.fc2.weight": (d, 48),
        "decoder.layers.0.final_layer_norm.bias": (d,),
        "decoder.layer_norm.weight": (d,),
    }
    fairseq = {}
    for name, tensor in model.state_dict().items():
        for prefix, ours in FAIRSEQ_PREFIXES:
            if name.startswith(ours):
                fairseq[prefix + name[len(ours) :]] = torch.randn_like(tensor)
    fairseq["decoder.output_projection.weight"] = fairseq["decoder.embed_tokens.weight"]
    for name, shape in shapes.items():
        assert tuple(fairseq[name].shape) == shape, name
    mapped = map_state_dict(fairseq, FAIRSEQ_ST_KEYS)
    skip = ("encoder.", "ctc_head.")  # our auxiliary CTC head has no xm_transformer key
    head = {k: v for k, v in model.state_dict().items() if not k.startswith(skip)}
    # invariant: every head parameter comes from exactly one fairseq key (the tied output
    # projection is not loaded)
    assert set(mapped) == set(head) and len(mapped) == len(fairseq) - 1
    assert torch.equal(mapped["adaptor.layers.1.bias"], fairseq["encoder.adaptor.layers.1.bias"])


def test_decoder_logits_equal_hugging_face_mbart():
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    hf_cfg = transformers.MBartConfig(
        vocab_size=50,
        d_model=32,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        encoder_layers=1,
        max_position_embeddings=40,
        scale_embedding=True,
        activation_function="gelu",
        add_cross_attention=True,
        is_decoder=True,
        is_encoder_decoder=False,
        pad_token_id=PAD,
        eos_token_id=EOS,
        dropout=0.0,
    )
    torch.manual_seed(0)
    hf = randomize(transformers.MBartForCausalLM(hf_cfg), seed=3).eval()
    hf.tie_weights()
    cfg = StConfig(
        vocab_size=50,
        decoder_embed_dim=32,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_embed_dim=64,
        max_target_positions=40,
    )
    ours = StModel(random_encoder(tiny_config(), seed=1), cfg).eval()
    mapped = map_state_dict(hf.state_dict(), HF_DECODER_KEYS)
    ours_decoder = {k: v for k, v in ours.state_dict().items() if k.startswith("decoder.")}
    assert set(mapped) == set(ours_decoder)
    ours.load_state_dict(mapped, strict=False)
    ids = torch.randint(3, 50, (2, 9), generator=torch.Generator().manual_seed(4))
    ids[1, 6:] = PAD
    memory, mem_lengths = torch.randn(2, 11, 32), torch.tensor([11, 7])
    with torch.no_grad():
        ref = hf(
            input_ids=ids,
            attention_mask=(ids != PAD).long(),
            encoder_hidden_states=memory,
            encoder_attention_mask=(torch.arange(11)[None] < mem_lengths[:, None]).long(),
            use_cache=False,
        ).logits
        got = ours.decoder_logits(memory, mem_lengths, ids)
    # invariant: same weights and inputs give HF's logits at every real target position
    real = ids != PAD
    err = (got - ref)[real].norm() / ref[real].norm()
    assert float(err) < 1e-4, float(err)


def test_training_step_with_frozen_encoder_trains_only_the_head():
    m = StModel(random_encoder(tiny_config(), seed=1), small_cfg(dropout=0.1)).train()
    m.freeze_encoder = True
    wav, lengths = padded_batch([4000, 3200])
    prev = torch.tensor([[EOS, 5, 6], [EOS, 8, PAD]])
    target = torch.tensor([[5, 6, EOS], [8, EOS, PAD]])
    source, source_lengths = torch.tensor([[3, 4], [6, 0]]), torch.tensor([2, 1])
    loss, _ = m(wav, lengths, StTargets(prev, target, source, source_lengths))
    loss.backward()
    # invariant: while frozen, gradients reach the head (decoder, adaptor, CTC) only
    assert torch.isfinite(loss)
    assert all(p.grad is None for p in m.encoder.parameters())
    heads = (m.decoder, m.adaptor, m.ctc_head, m.encoder_proj)
    assert all(p.grad is not None for h in heads for p in h.parameters())


def test_tiny_preset_builds_and_names_fields():
    cfg = st_tiny(vocab_size=100, source_vocab_size=30, ctc_weight=0.3)
    m = StModel(random_encoder(tiny_config(), seed=1), cfg)
    assert m.decoder.embed_positions.weight.shape == (256 + 2, 128)
    assert m.ctc_head is not None and m.ctc_head.out_features == 30
    with pytest.raises(ValueError, match="source_vocab_size"):
        StModel(random_encoder(tiny_config(), seed=1), st_tiny(100, ctc_weight=0.3))
    with pytest.raises(ValueError, match="encoder_proj"):
        StModel(
            random_encoder(tiny_config(), seed=1),
            st_tiny(100, encoder_proj=False, adaptor_layers=0),
        )
