"""Checkpoint import (contract 1): fairseq files, Hugging Face dirs, our format, bad input."""

import json
import pickle
import sys
import types

import pytest
import torch

import xlsr
from xlsr.bin import inspect_checkpoint
from xlsr.models.fairseq_hf import CheckpointError, parse_conv_layers
from xlsr.models.safe_pickle import torch_load
from xlsr.testing.checkpoints import (
    hf_state_dict,
    padded_batch,
    random_encoder,
    tiny_config,
    write_fairseq_checkpoint,
    write_hf_dir,
    write_safetensors,
)

VARIANTS = [(True, "layer_norm"), (False, "default")]


def encode(enc, wav, lengths):
    with torch.no_grad():
        return enc.eval()(wav, lengths)


@pytest.fixture
def original():
    return random_encoder(tiny_config(), seed=3)


@pytest.mark.parametrize("layer_norm_first,mode", VARIANTS)
@pytest.mark.parametrize("style", ["cfg", "args"])
@pytest.mark.parametrize("finetuned", [False, True])
@pytest.mark.parametrize("weight_norm", ["g_v", "parametrizations"])
def test_fairseq_checkpoint_matches_hf_dir(
    tmp_path, layer_norm_first, mode, style, finetuned, weight_norm
):
    enc = random_encoder(tiny_config(layer_norm_first=layer_norm_first, extractor_mode=mode))
    fs = write_fairseq_checkpoint(
        enc, tmp_path / "fs.pt", style, finetuned, weight_norm=weight_norm
    )
    hf = write_hf_dir(enc, tmp_path / "hf")
    from_fs, from_hf = xlsr.load_encoder(fs), xlsr.load_encoder(hf)
    wav, lengths = padded_batch([4000, 2600])
    a, fa = encode(from_fs, wav, lengths)
    b, fb = encode(from_hf, wav, lengths)
    ref, _ = encode(enc, wav, lengths)
    assert fa.tolist() == fb.tolist()
    for i, n in enumerate(fa.tolist()):
        torch.testing.assert_close(a[i, :n], b[i, :n], rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a[i, :n], ref[i, :n], rtol=1e-4, atol=1e-4)
    report = from_fs.load_report
    assert report.format == "fairseq"
    assert {"quantizer.vars", "project_q.weight", "final_proj.weight"} <= {
        k.replace("w2v_encoder.w2v_model.", "") for k in report.ignored
    }
    cfg = from_fs.cfg
    assert (cfg.layer_norm_first, cfg.extractor_mode) == (layer_norm_first, mode)
    if finetuned:
        assert report.architecture == "wav2vec_ctc"
        assert "w2v_encoder.proj.weight" in report.ignored
        # fine-tuning overrides replace the pretraining values, as fairseq's Wav2VecEncoder does
        assert (cfg.mask_prob, cfg.mask_channel_prob, cfg.mask_channel_length) == (0.75, 0.25, 64)
        assert (cfg.layerdrop, cfg.feature_grad_mult) == (0.1, 0.0)
    else:
        assert (cfg.mask_prob, cfg.feature_grad_mult) == (0.65, 0.1)


@pytest.mark.parametrize("arch", ["Wav2Vec2Model", "Wav2Vec2ForCTC", "Wav2Vec2ForPreTraining"])
@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_hf_dir_architectures_and_weight_files(tmp_path, original, arch, weights):
    path = write_hf_dir(original, tmp_path / "hf", arch, weights, weight_norm="parametrizations")
    enc = xlsr.load_encoder(path)
    wav, lengths = padded_batch([3000])
    torch.testing.assert_close(encode(enc, wav, lengths)[0], encode(original, wav, lengths)[0])
    assert enc.load_report.architecture == arch
    heads = {"Wav2Vec2Model": [], "Wav2Vec2ForCTC": ["lm_head.weight", "lm_head.bias"]}
    if arch in heads:
        assert enc.load_report.ignored == heads[arch]
    else:
        assert "wav2vec2.quantizer.codevectors" not in enc.load_report.used
        assert "quantizer.codevectors" in enc.load_report.ignored


def test_hf_sharded_weights(tmp_path, original):
    path = tmp_path / "hf"
    write_hf_dir(original, path)
    state = hf_state_dict(original)
    (path / "model.safetensors").unlink()
    keys = list(state)
    shards = {
        "model-00001-of-00002.safetensors": keys[: len(keys) // 2],
        "model-00002-of-00002.safetensors": keys[len(keys) // 2 :],
    }
    weight_map = {}
    for name, part in shards.items():
        write_safetensors({k: state[k] for k in part}, path / name)
        weight_map.update({k: name for k in part})
    (path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    wav, lengths = padded_batch([3000])
    enc = xlsr.load_encoder(path)
    torch.testing.assert_close(encode(enc, wav, lengths)[0], encode(original, wav, lengths)[0])


def test_hf_without_masked_spec_embed_and_normalisation_flag(tmp_path, original):
    path = write_hf_dir(original, tmp_path / "hf", weights="bin")
    state = torch_load(path / "pytorch_model.bin")
    del state["masked_spec_embed"]  # HF omits it when mask_time_prob == mask_feature_prob == 0
    torch.save(state, path / "pytorch_model.bin")
    (path / "preprocessor_config.json").write_text(json.dumps({"do_normalize": False}))
    enc = xlsr.load_encoder(path)
    assert enc.load_report.not_in_checkpoint == ["mask_emb"]
    assert enc.cfg.normalize_waveform is False


def test_our_format_round_trip_and_overrides(tmp_path, original):
    xlsr.save_encoder(original, tmp_path / "enc.pt")
    enc = xlsr.load_encoder(tmp_path / "enc.pt", mask_prob=0.3, layerdrop=0.2, dropout=0.05)
    assert enc.cfg.mask_prob == 0.3 and enc.encoder.cfg.layerdrop == 0.2
    assert enc.encoder.layers[0].dropout.p == 0.05
    wav, lengths = padded_batch([3000, 2000])
    torch.testing.assert_close(encode(enc, wav, lengths)[0], encode(original, wav, lengths)[0])
    with pytest.raises(ValueError, match="architecture fields"):
        xlsr.load_encoder(tmp_path / "enc.pt", num_layers=3)


def test_omegaconf_and_fairseq_enum_objects_load_without_those_packages(tmp_path, original):
    # Build a checkpoint whose cfg is pickled as omegaconf DictConfig / fairseq enum objects,
    # from stand-in modules that exist only while pickling (as on a machine with fairseq).
    mods = {}
    for name in ("omegaconf", "omegaconf.dictconfig", "fairseq", "fairseq.dataclass.constants"):
        mods[name] = types.ModuleType(name)

    class DictConfig:
        def __init__(self, content):
            self._content = content

        def __getstate__(self):
            return {"_content": self._content, "_metadata": None, "_parent": None}

    class ChoiceEnum(str):
        def __reduce__(self):
            return (ChoiceEnum, (str(self),))

    DictConfig.__module__, DictConfig.__qualname__ = "omegaconf.dictconfig", "DictConfig"
    ChoiceEnum.__module__, ChoiceEnum.__qualname__ = "fairseq.dataclass.constants", "Choices"
    mods["omegaconf.dictconfig"].DictConfig = DictConfig
    mods["fairseq.dataclass.constants"].Choices = ChoiceEnum
    path = write_fairseq_checkpoint(original, tmp_path / "fs.pt")
    ckpt = torch_load(path)
    model_cfg = dict(ckpt["cfg"]["model"])
    model_cfg["extractor_mode"] = ChoiceEnum("layer_norm")
    ckpt["cfg"] = DictConfig(
        {"model": DictConfig(model_cfg), "task": DictConfig({"normalize": True})}
    )
    sys.modules.update(mods)
    try:
        torch.save(ckpt, path)
    finally:
        for name in mods:
            sys.modules.pop(name)
    enc = xlsr.load_encoder(path)
    assert enc.cfg.extractor_mode == "layer_norm" and enc.cfg.num_layers == 2
    wav, lengths = padded_batch([3000])
    torch.testing.assert_close(encode(enc, wav, lengths)[0], encode(original, wav, lengths)[0])


class NotAllowed:
    pass


def _fairseq_like(tmp_path, original, change):
    path = write_fairseq_checkpoint(original, tmp_path / "fs.pt")
    ckpt = torch_load(path)
    change(ckpt)
    torch.save(ckpt, path)
    return path


def test_errors_name_the_file_and_the_problem(tmp_path, original):
    with pytest.raises(CheckpointError, match="missing.pt: no such file"):
        xlsr.load_encoder(tmp_path / "missing.pt")
    good = write_fairseq_checkpoint(original, tmp_path / "good.pt")
    trunc = tmp_path / "truncated.pt"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt: not a readable PyTorch checkpoint"):
        xlsr.load_encoder(trunc)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="notes.txt: not a readable PyTorch checkpoint"):
        xlsr.load_encoder(text)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="other.pt: not a wav2vec 2.0 checkpoint"):
        xlsr.load_encoder(other)
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "cfg": NotAllowed()}, evil)
    with pytest.raises(CheckpointError, match=r"refusing to unpickle .*NotAllowed"):
        xlsr.load_encoder(evil)
    with pytest.raises(CheckpointError, match="without config.json"):
        xlsr.load_encoder(tmp_path)


@pytest.mark.parametrize(
    "change,match",
    [
        (lambda c: c["cfg"]["model"].update(_name="hubert"), "'hubert' is not wav2vec 2.0"),
        (lambda c: c["cfg"]["model"].update(_name="transformer_lm"), "'transformer_lm' is not"),
        (
            lambda c: c["model"].pop("encoder.layers.1.fc1.weight"),
            r"missing from the checkpoint: \['encoder.layers.1.fc1.weight'\]",
        ),
        (
            lambda c: c["model"].update({"encoder.layers.0.extra.weight": torch.zeros(1)}),
            r"unexpected key\(s\).*encoder.layers.0.extra.weight",
        ),
        (
            lambda c: c["cfg"]["model"].update(encoder_layers=3),
            r"missing from the checkpoint: \['encoder.layers.2",
        ),
        (lambda c: c["cfg"]["model"].update(encoder_layers=1), "layers this config does not have"),
        (
            lambda c: c["cfg"]["model"].update(encoder_ffn_embed_dim=48),
            r"encoder.layers.0.fc1.weight has shape \(64, 32\), the config implies \(48, 32\)",
        ),
        (lambda c: c["cfg"]["model"].update(layer_type="conformer"), "layer_type 'conformer'"),
    ],
)
def test_fairseq_wrong_architecture_or_keys(tmp_path, original, change, match):
    path = _fairseq_like(tmp_path, original, change=change)
    with pytest.raises(CheckpointError, match=match) as err:
        xlsr.load_encoder(path)
    assert str(path) in str(err.value)


def test_finetuned_without_pretraining_config(tmp_path, original):
    path = write_fairseq_checkpoint(original, tmp_path / "ft.pt", finetuned=True)
    ckpt = torch_load(path)
    ckpt["cfg"]["model"]["w2v_args"] = None
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="w2v_args is empty.*xlsr2_300m.pt"):
        xlsr.load_encoder(path)


@pytest.mark.parametrize("model_type", ["hubert", "bert"])
def test_hf_other_model_types(tmp_path, original, model_type):
    path = write_hf_dir(original, tmp_path / "hf")
    cfg = json.loads((path / "config.json").read_text())
    cfg["model_type"] = model_type
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=f"config.json: model_type '{model_type}'"):
        xlsr.load_encoder(path)


def test_hf_truncated_safetensors(tmp_path, original):
    path = write_hf_dir(original, tmp_path / "hf")
    st = path / "model.safetensors"
    st.write_bytes(st.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="model.safetensors: truncated"):
        xlsr.load_encoder(path)


def test_parse_conv_layers_is_safe():
    spec = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
    assert parse_conv_layers(spec) == [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    with pytest.raises(ValueError, match="unsupported expression"):
        parse_conv_layers("__import__('os').system('true')")


def test_inspect_cli(tmp_path, original, capsys):
    path = write_fairseq_checkpoint(original, tmp_path / "ft.pt", finetuned=True)
    assert inspect_checkpoint.main([str(path)]) == 0
    out = capsys.readouterr().out
    assert "fairseq (wav2vec_ctc)" in out and "70 used, 9 ignored" in out
    assert "w2v_encoder.proj.weight" in out
    assert inspect_checkpoint.main([str(path), "--json", "--keys"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["key_map"]["w2v_encoder.w2v_model.post_extract_proj.weight"] == (
        "feature_projection.projection.weight"
    )
    assert inspect_checkpoint.main([str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt: no such file" in capsys.readouterr().err


def test_restricted_unpickler_is_used_for_hf_bin(tmp_path, original):
    path = write_hf_dir(original, tmp_path / "hf", weights="bin")
    with open(path / "pytorch_model.bin", "wb") as f:
        torch.save({"x": NotAllowed()}, f, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        xlsr.load_encoder(path)


def test_legacy_torch_serialization(tmp_path, original):
    # fairseq checkpoints from before torch 1.6 use the non-zip serialization
    path = write_fairseq_checkpoint(original, tmp_path / "old.pt", style="args")
    torch.save(torch_load(path), path, _use_new_zipfile_serialization=False)
    enc = xlsr.load_encoder(path)
    wav, lengths = padded_batch([3000])
    torch.testing.assert_close(encode(enc, wav, lengths)[0], encode(original, wav, lengths)[0])
