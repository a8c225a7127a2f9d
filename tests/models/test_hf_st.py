"""Hugging Face SpeechEncoderDecoderModel directories and fairseq xm_transformer checkpoints
as our StModel.

Invariants: a directory written from one of our models (``write_hf_st_dir``, HF key names
spelt out there) loads back weight for weight, so its decoder logits are the model's; ids
other than ours (bos 0, pad 1, eos 2, start = eos) and layouts we cannot express are refused
with a CheckpointError naming them; and (modern lane) for a random tiny
``SpeechEncoderDecoderModel`` saved by transformers, our decoder logits on single utterances
of two lengths equal ``model(input_values, decoder_input_ids=...)``'s, relative error < 1e-4,
with and without the adapter's projection; and our greedy search with the prefix ``</s> <tag>``
gives ``generate(num_beams=1, forced_bos_token_id=tag)``'s tokens after the tag. An
xm_transformer checkpoint written from our model loads back weight for weight.
"""

import json

import pytest
import torch

from xlsr.models.fairseq_hf import CheckpointError
from xlsr.models.hf_st import load_hf_st
from xlsr.models.st import StConfig, StModel
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config, write_hf_st_dir

LENGTHS = [4000, 2900]
PREFIX = [2, 5]  # eos (HF decoder_start_token_id), then a "language tag"


def randomize(module, seed=0):
    """Random weights everywhere (LayerNorm gains and biases too, so swapped keys show)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g) + (p.dim() == 1) * 0.5)
    return module


def our_model(d=32, proj=False, adaptor_layers=2):
    cfg = StConfig(
        vocab_size=40,
        decoder_embed_dim=d,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_embed_dim=64,
        max_target_positions=64,
        adaptor_layers=adaptor_layers,
        encoder_proj=proj,
        encoder_proj_layer_norm=proj and adaptor_layers > 0,
    )
    model = StModel(random_encoder(tiny_config(), seed=1), cfg)
    randomize(model.decoder, seed=2)
    if model.adaptor is not None:
        randomize(model.adaptor, seed=3)
    for module in (model.encoder_proj, model.encoder_proj_ln):
        if module is not None:
            randomize(module, seed=4)
    return model.eval()


def tokens(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.tensor([PREFIX + torch.randint(3, 40, (5,), generator=g).tolist()])


def logits(model, wav, n, toks):
    with torch.no_grad():
        memory, memory_lengths = model.encode_for_decoder(wav[None, :n], torch.tensor([n]))
        return model.decoder_logits(memory, memory_lengths, toks)


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("d, proj, layers", [(32, False, 2), (48, True, 2), (48, True, 0)])
def test_a_written_directory_loads_back_weight_for_weight(tmp_path, d, proj, layers):
    # adapter without / with its projection (+ LayerNorm), and enc_to_dec_proj (no adapter)
    model = our_model(d, proj, layers)
    path = write_hf_st_dir(model, tmp_path / "hf", forced_bos_token_id=5)
    loaded, info = load_hf_st(path)
    assert not loaded.training and loaded.cfg == model.cfg
    assert (info.decoder_start_token_id, info.forced_bos_token_id) == (2, 5)
    assert info.tokenizer_files == []  # test directories carry no tokenizer
    theirs = loaded.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(theirs[key], value), key
    wav, _ = padded_batch([4000], seed=5)
    torch.testing.assert_close(
        logits(loaded, wav[0], 4000, tokens()), logits(model, wav[0], 4000, tokens())
    )


def edit_config(path, **changes):
    cfg = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        part, _, field = key.rpartition("__")
        (cfg[part] if part else cfg)[field] = value
    (path / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"pad_token_id": 0}, r"token ids \{'pad_token_id': 0\} differ from ours"),
        ({"decoder_start_token_id": 0}, "'decoder_start_token_id': 0"),
        ({"encoder__adapter_kernel_size": 5}, "adapter_kernel_size != 3"),
        ({"encoder__output_hidden_size": 24}, r"enc_to_dec_proj after the adapter \(24 -> 32\)"),
        ({"decoder__scale_embedding": False}, "scale_embedding=True"),
        ({"architectures": ["Wav2Vec2ForCTC"]}, "is not SpeechEncoderDecoderModel"),
    ],
)
def test_what_does_not_map_is_refused(tmp_path, changes, message):
    path = write_hf_st_dir(our_model(), tmp_path / "hf")
    edit_config(path, **changes)
    with pytest.raises(CheckpointError, match=message):
        load_hf_st(path)


def test_an_untied_lm_head_is_refused(tmp_path):
    from xlsr.models.fairseq_hf import read_safetensors
    from xlsr.testing.checkpoints import write_safetensors

    path = write_hf_st_dir(our_model(), tmp_path / "hf")
    state = read_safetensors(path / "model.safetensors")
    state["decoder.lm_head.weight"] = state["decoder.lm_head.weight"] + 1.0
    write_safetensors(state, path / "model.safetensors")
    with pytest.raises(CheckpointError, match="lm_head differs from embed_tokens"):
        load_hf_st(path)


def hf_st_model(transformers, path, d):
    """A random tiny SpeechEncoderDecoderModel (wav2vec2 with a 2-layer adapter, output width
    ``d``; projection when ``d`` != 32), saved with save_pretrained and a normalising feature
    extractor."""
    enc = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=[32] * 3,
        conv_kernel=[10, 3, 2],
        conv_stride=[5, 2, 2],
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        add_adapter=True,
        num_adapter_layers=2,
        output_hidden_size=d,
    )
    dec = transformers.MBartConfig(
        d_model=d,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=64,
        vocab_size=40,
        max_position_embeddings=64,
        scale_embedding=True,
        is_decoder=True,
        add_cross_attention=True,
    )
    cfg = transformers.SpeechEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    cfg.decoder_start_token_id, cfg.pad_token_id, cfg.eos_token_id, cfg.bos_token_id = 2, 1, 2, 0
    torch.manual_seed(0)
    hf = transformers.SpeechEncoderDecoderModel(cfg)
    with torch.no_grad():  # LayerNorm gains and biases random too; decoder layers strong
        for name, p in hf.named_parameters():  # enough that the output is not the input token
            if p.dim() == 1:
                p.add_(0.3 * torch.randn_like(p))
            elif name.startswith("decoder.model.decoder.layers."):
                p.normal_(0.0, 0.3)
        hf.decoder.model.decoder.embed_tokens.weight[2] *= 4.0  # eos likelier: some stop early
    hf.eval().save_pretrained(path)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(path)
    return hf


@pytest.mark.parametrize("d", [32, 48])
def test_decoder_logits_equal_transformers(tmp_path, d):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    hf = hf_st_model(transformers, tmp_path / "hf", d)
    model, _ = load_hf_st(tmp_path / "hf")
    assert model.cfg.encoder_proj == (d != 32) and model.encoder.cfg.normalize_waveform
    g = torch.Generator().manual_seed(7)
    wav = 0.1 * torch.randn(max(LENGTHS), generator=g) + 0.02  # raw: not normalised
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    errors = []
    for n in LENGTHS:
        values = extractor(wav[:n].numpy(), sampling_rate=16000, return_tensors="pt").input_values
        with torch.no_grad():
            expected = hf(values, decoder_input_ids=tokens(n)).logits
        errors.append(rel_err(logits(model, wav, n, tokens(n)), expected))
    print(f"max relative error {max(errors):.2e} (d={d})")
    assert max(errors) < 1e-4


@pytest.mark.parametrize("d", [32, 48])
def test_greedy_search_equals_transformers_generate(tmp_path, d):
    # HF starts with decoder_start (eos), forces the tag after it and eos at max_length - 1:
    # our prefix </s> <tag>, max_len_b = max_new_tokens - 2, no min length, pad suppressed
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    from xlsr.decode.st_search import SearchConfig, greedy_search

    hf = hf_st_model(transformers, tmp_path / "hf", d)
    model, info = load_hf_st(tmp_path / "hf")
    g = torch.Generator().manual_seed(7)
    wav = 0.1 * torch.randn(max(LENGTHS), generator=g) + 0.02
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    new_tokens, cfg = 12, SearchConfig(beam=1, max_len_b=10, min_len=0)
    for n in LENGTHS:
        for tag in (5, 17, 33):
            values = extractor(wav[:n].numpy(), sampling_rate=16000, return_tensors="pt")
            with torch.no_grad():
                seq = hf.generate(
                    values.input_values,
                    num_beams=1,
                    do_sample=False,
                    max_new_tokens=new_tokens,
                    forced_bos_token_id=tag,
                    forced_eos_token_id=2,
                    suppress_tokens=[1],
                )[0].tolist()
                memory, memory_lengths = model.encode_for_decoder(wav[None, :n], torch.tensor([n]))
                prefix = torch.tensor([[info.decoder_start_token_id, tag]])
                ours = greedy_search(model, memory, memory_lengths, prefix, cfg)[0]
            assert seq[:2] == [2, tag]
            theirs = seq[2:]
            theirs = theirs[: theirs.index(2)] if 2 in theirs else theirs
            assert ours == theirs, (n, tag, seq)


def test_beam_search_against_transformers_generate(tmp_path):
    # The semantics differ in two documented ways (see xlsr.models.hf_st): HF divides by the
    # generated length counting the forced tag, n + 2, where we (fairseq) divide by n + 1;
    # HF's forced eos at max length scores log p = 0, ours the model's log p(eos). So: with
    # length_penalty 0 and every hypothesis ending before max length the 4-best lists are
    # equal; with length_penalty 1 a hypothesis in both lists has HF score * (n + 2) equal to
    # ours * (n + 1) (the same summed log-probability).
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    from xlsr.decode.st_search import SearchConfig, beam_search

    hf = hf_st_model(transformers, tmp_path / "hf", 48)
    model, _ = load_hf_st(tmp_path / "hf")
    g = torch.Generator().manual_seed(7)
    wav = 0.1 * torch.randn(max(LENGTHS), generator=g) + 0.02
    extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)
    max_len, equal_lists, common = 10, 0, 0
    for lp in (0.0, 1.0):
        cfg = SearchConfig(beam=4, nbest=4, len_penalty=lp, max_len_b=max_len, min_len=0)
        for n in LENGTHS:
            for tag in (5, 17, 33):
                values = extractor(wav[:n].numpy(), sampling_rate=16000, return_tensors="pt")
                with torch.no_grad():
                    out = hf.generate(
                        values.input_values,
                        num_beams=4,
                        num_return_sequences=4,
                        length_penalty=lp,
                        do_sample=False,
                        max_new_tokens=max_len + 2,
                        forced_bos_token_id=tag,
                        forced_eos_token_id=2,
                        suppress_tokens=[1],
                        output_scores=True,
                        return_dict_in_generate=True,
                    )
                    memory, lengths = model.encode_for_decoder(wav[None, :n], torch.tensor([n]))
                    prefix = torch.tensor([[2, tag]])
                    ours = beam_search(model, memory, lengths, prefix, cfg)[0]
                theirs = []
                for seq, score in zip(out.sequences.tolist(), out.sequences_scores.tolist()):
                    assert seq[:2] == [2, tag]
                    seq = seq[2:]
                    theirs.append((seq[: seq.index(2)] if 2 in seq else seq, score))
                short = all(len(t) < max_len for t, _ in ours + theirs)
                if lp == 0.0 and short:
                    equal_lists += 1
                    assert [t for t, _ in ours] == [t for t, _ in theirs]
                    torch.testing.assert_close([s for _, s in ours], [s for _, s in theirs])
                for tokens_, score in theirs if lp == 1.0 else []:
                    match = [s for t, s in ours if t == tokens_ and len(t) < max_len]
                    if match:
                        common += 1
                        k = len(tokens_)
                        assert abs(score * (k + 2) - match[0] * (k + 1)) < 1e-4
    assert equal_lists >= 2 and common >= 2  # both checks ran


# ---------------------------------------------------------------- fairseq xm_transformer


@pytest.mark.parametrize("d, proj, layers", [(32, False, 2), (48, True, 2), (48, True, 0)])
def test_fairseq_xm_transformer_loads_weight_for_weight(tmp_path, d, proj, layers):
    # a checkpoint written from our model (fairseq key names spelt out in the writer) loads
    # back to the same weights and config, so its decoder logits are the model's
    from xlsr.models.fairseq_st import load_fairseq_st
    from xlsr.models.safe_pickle import torch_load
    from xlsr.testing.checkpoints import write_fairseq_st_checkpoint

    model = our_model(d, proj, layers)
    path = write_fairseq_st_checkpoint(model, tmp_path / "st.pt")
    loaded = load_fairseq_st(path, torch_load(path))
    assert not loaded.training and loaded.cfg.encoder_proj == proj
    assert loaded.cfg.encoder_proj_layer_norm == model.cfg.encoder_proj_layer_norm
    assert loaded.encoder.cfg.normalize_waveform == model.encoder.cfg.normalize_waveform
    theirs = loaded.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(theirs[key], value), key
    wav, _ = padded_batch([4000], seed=5)
    expected = logits(model, wav[0], 4000, tokens())
    # fairseq normalises the waveform with eps 1e-5 (our model: 1e-7): not bit-identical
    assert rel_err(logits(loaded, wav[0], 4000, tokens()), expected) < 1e-4


@pytest.mark.parametrize(
    "field, value",
    [("adaptor_layernorm", True), ("no_scale_embedding", True), ("activation_fn", "relu")],
)
def test_fairseq_options_we_cannot_compute_are_refused(tmp_path, field, value):
    from xlsr.models.fairseq_st import load_fairseq_st
    from xlsr.models.safe_pickle import torch_load
    from xlsr.testing.checkpoints import write_fairseq_st_checkpoint

    path = write_fairseq_st_checkpoint(our_model(), tmp_path / "st.pt")
    ckpt = torch_load(path)
    ckpt["cfg"]["model"][field] = value
    with pytest.raises(CheckpointError, match=f"cannot compute: .*'{field}'"):
        load_fairseq_st(path, ckpt)
    ckpt["cfg"]["model"] = {**ckpt["cfg"]["model"], field: None, "_name": "wav2vec_ctc"}
    with pytest.raises(CheckpointError, match="'wav2vec_ctc' is not"):
        load_fairseq_st(path, ckpt)
