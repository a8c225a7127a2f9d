"""Parity with two independent wav2vec 2.0 implementations on random tiny configs.

- transformers' ``Wav2Vec2Model`` (modern lane): a randomly initialised HF model written
  with HF's own ``save_pretrained`` is loaded through ``xlsr.load_encoder``, and our writers'
  HF directories load into transformers.
- torchaudio's ``wav2vec2_model`` (k2 lane): our fairseq-format checkpoints are converted to
  torchaudio with torchaudio's own fairseq key mapping.

Contract: on every real frame of a padded float32 batch the relative error is < 1e-4.
HF and torchaudio compute the GroupNorm of the "default" extractor over the padded length,
so in that mode we compare each utterance with the oracle run on it alone (our padded
batch must equal that); in LayerNorm mode also with the oracle's own padded batch.
"""

import pytest
import torch

import xlsr
from xlsr.models.safe_pickle import torch_load
from xlsr.testing.checkpoints import (
    padded_batch,
    random_encoder,
    tiny_config,
    write_fairseq_checkpoint,
)

VARIANTS = [(True, "layer_norm"), (False, "layer_norm"), (False, "default"), (True, "default")]
LENGTHS = [4000, 2900, 1650]


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def check_against_oracle(ours, oracle_padded, oracle_alone, mode):
    """ours: (hidden, frames) of our padded batch; oracle_alone(i) -> (T_i, D)."""
    hidden, frames = ours
    for i, n in enumerate(frames.tolist()):
        alone = oracle_alone(i)
        assert alone.shape[0] == n
        assert rel_err(hidden[i, :n], alone) < 1e-4
        if mode == "layer_norm":
            assert rel_err(hidden[i, :n], oracle_padded[i, :n]) < 1e-4


@pytest.mark.parametrize("layer_norm_first,mode", VARIANTS)
def test_parity_with_transformers(tmp_path, layer_norm_first, mode):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    hf_cfg = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=[32] * 7,
        conv_bias=mode == "layer_norm",
        feat_extract_norm="layer" if mode == "layer_norm" else "group",
        do_stable_layer_norm=layer_norm_first,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        layerdrop=0.0,
    )
    torch.manual_seed(0)
    hf = transformers.Wav2Vec2Model(hf_cfg)
    with torch.no_grad():  # make LayerNorm gains and biases random too
        for p in hf.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    hf.eval().save_pretrained(tmp_path / "hf")
    ours = xlsr.load_encoder(tmp_path / "hf").eval()
    assert ours.cfg.layer_norm_first == layer_norm_first
    wav, lengths = padded_batch(LENGTHS)
    mask = (torch.arange(wav.shape[1])[None] < lengths[:, None]).long()
    with torch.no_grad():
        padded = hf(wav, attention_mask=mask).last_hidden_state
        check_against_oracle(
            ours(wav, lengths),
            padded,
            lambda i: hf(wav[i : i + 1, : lengths[i]]).last_hidden_state[0],
            mode,
        )


@pytest.mark.parametrize("arch", ["Wav2Vec2Model", "Wav2Vec2ForCTC", "Wav2Vec2ForPreTraining"])
def test_our_hf_directories_load_in_transformers(tmp_path, arch):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    from xlsr.testing.checkpoints import write_hf_dir

    enc = random_encoder(tiny_config())
    path = write_hf_dir(enc, tmp_path / "hf", arch, weight_norm="g_v")
    model = getattr(transformers, arch).from_pretrained(path).eval()
    base = model if arch == "Wav2Vec2Model" else model.wav2vec2
    wav, lengths = padded_batch([3000])
    with torch.no_grad():
        ref = base(wav).last_hidden_state
        hidden, _ = xlsr.load_encoder(path).eval()(wav, lengths)
    assert rel_err(hidden, ref) < 1e-4


def _torchaudio_model(cfg, aux_num_out=None):
    torchaudio = pytest.importorskip("torchaudio", reason="torchaudio: k2 lane only")
    return torchaudio.models.wav2vec2_model(
        extractor_mode="layer_norm" if cfg.extractor_mode == "layer_norm" else "group_norm",
        extractor_conv_layer_config=cfg.conv_layers,
        extractor_conv_bias=cfg.conv_bias,
        encoder_embed_dim=cfg.embed_dim,
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=cfg.conv_pos,
        encoder_pos_conv_groups=cfg.conv_pos_groups,
        encoder_num_layers=cfg.num_layers,
        encoder_num_heads=cfg.num_heads,
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=cfg.ffn_dim,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=cfg.layer_norm_first,
        encoder_layer_drop=0.0,
        aux_num_out=aux_num_out,
    )


@pytest.mark.parametrize("layer_norm_first,mode", VARIANTS)
@pytest.mark.parametrize("finetuned", [False, True])
def test_parity_with_torchaudio(tmp_path, layer_norm_first, mode, finetuned):
    pytest.importorskip("torchaudio", reason="torchaudio: k2 lane only")
    from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

    enc = random_encoder(tiny_config(layer_norm_first=layer_norm_first, extractor_mode=mode))
    path = write_fairseq_checkpoint(enc, tmp_path / "fs.pt", finetuned=finetuned)
    state = torch_load(path)["model"]
    if finetuned:  # torchaudio converts the state dict of fairseq's Wav2VecEncoder
        state = {k[len("w2v_encoder.") :]: v for k, v in state.items()}
    ta = _torchaudio_model(enc.cfg, aux_num_out=12 if finetuned else None)
    ta.load_state_dict(_convert_state_dict(state), strict=True)
    ta.eval()
    ours = xlsr.load_encoder(path).eval()
    wav, lengths = padded_batch(LENGTHS)

    def last_hidden(w, n=None):  # the encoder output, before torchaudio's aux CTC head
        feats, n = ta.feature_extractor(w, n)
        return ta.encoder(feats, n)

    with torch.no_grad():
        check_against_oracle(
            ours(wav, lengths),
            last_hidden(wav, lengths),
            lambda i: last_hidden(wav[i : i + 1, : lengths[i]])[0],
            mode,
        )
