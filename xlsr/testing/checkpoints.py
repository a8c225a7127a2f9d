"""Tiny checkpoints in the real on-disk formats, for tests, recipes and demos.

The writers spell out fairseq's and Hugging Face's key names themselves (from the
documented module layouts: fairseq ``Wav2Vec2Model`` / ``Wav2VecCtc``, transformers
``Wav2Vec2Model`` / ``Wav2Vec2ForCTC`` / ``Wav2Vec2ForPreTraining``), independently of the
loader's mapping tables, so a loader test checks one against the other.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import types
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import Tensor

from xlsr.models.config import EncoderConfig, xlsr_tiny
from xlsr.models.encoder import XLSREncoder
from xlsr.models.st import StModel


def tiny_config(layer_norm_first: bool = True, extractor_mode: str = "layer_norm", **kw: Any):
    """A very small config (32 channels, 2 layers of width 32) in either architecture variant."""
    base = dict(
        conv_layers=[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
        conv_bias=extractor_mode == "layer_norm",
        extractor_mode=extractor_mode,
        layer_norm_first=layer_norm_first,
        embed_dim=32,
        ffn_dim=64,
        num_heads=4,
        conv_pos=8,
        conv_pos_groups=4,
    )
    return xlsr_tiny(**{**base, **kw})


def random_encoder(cfg: Optional[EncoderConfig] = None, seed: int = 0) -> XLSREncoder:
    """An encoder whose every weight is random (LayerNorm gains too, so swapped keys show)."""
    torch.manual_seed(seed)
    enc = XLSREncoder(cfg or tiny_config())
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(1.0 + 0.2 * torch.rand_like(p))
            elif p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    return enc.eval()


# ------------------------------------------------------------------------------- fairseq


def fairseq_model_config(cfg: EncoderConfig) -> Dict[str, Any]:
    """fairseq ``Wav2Vec2Config`` fields for ``cfg`` (what ``cfg['model']`` holds)."""
    return {
        "_name": "wav2vec2",
        "extractor_mode": cfg.extractor_mode,
        "conv_feature_layers": " + ".join(f"[{tuple(layer)}]" for layer in cfg.conv_layers),
        "conv_bias": cfg.conv_bias,
        "encoder_layers": cfg.num_layers,
        "encoder_embed_dim": cfg.embed_dim,
        "encoder_ffn_embed_dim": cfg.ffn_dim,
        "encoder_attention_heads": cfg.num_heads,
        "activation_fn": cfg.activation,
        "layer_type": "transformer",
        "layer_norm_first": cfg.layer_norm_first,
        "conv_pos": cfg.conv_pos,
        "conv_pos_groups": cfg.conv_pos_groups,
        "pos_conv_depth": 1,
        "dropout": 0.1,
        "attention_dropout": 0.1,
        "activation_dropout": 0.0,
        "dropout_input": 0.1,
        "dropout_features": 0.1,
        "encoder_layerdrop": 0.0,
        "feature_grad_mult": 0.1,
        "mask_prob": 0.65,
        "mask_length": 10,
        "mask_channel_prob": 0.0,
        "mask_channel_length": 10,
        "final_dim": 16,
        "latent_vars": 8,
        "latent_groups": 2,
        "quantize_targets": True,
    }


def fairseq_state_dict(enc: XLSREncoder, weight_norm: str = "g_v") -> Dict[str, Tensor]:
    """Our encoder's weights under fairseq ``Wav2Vec2Model`` names, plus its pretraining
    heads (quantizer, project_q, final_proj). ``weight_norm``: "g_v" (``weight_g``/
    ``weight_v``) or "parametrizations" (torch >= 2.1 ``original0``/``original1``)."""
    cfg = enc.cfg
    sd: Dict[str, Tensor] = {}
    for i, block in enumerate(enc.feature_extractor.conv_layers):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = block.conv.weight
        if block.conv.bias is not None:
            sd[f"feature_extractor.conv_layers.{i}.0.bias"] = block.conv.bias
        if block.norm is not None:
            # LayerNorm mode: Sequential(TransposeLast, Fp32LayerNorm, TransposeLast) at index 2
            norm = f"{i}.2.1" if cfg.extractor_mode == "layer_norm" else f"{i}.2"
            sd[f"feature_extractor.conv_layers.{norm}.weight"] = block.norm.weight
            sd[f"feature_extractor.conv_layers.{norm}.bias"] = block.norm.bias
    sd["layer_norm.weight"] = enc.feature_projection.layer_norm.weight
    sd["layer_norm.bias"] = enc.feature_projection.layer_norm.bias
    sd["post_extract_proj.weight"] = enc.feature_projection.projection.weight
    sd["post_extract_proj.bias"] = enc.feature_projection.projection.bias
    sd["mask_emb"] = enc.mask_emb
    pc = enc.encoder.pos_conv
    if weight_norm == "g_v":
        sd["encoder.pos_conv.0.weight_g"] = pc.weight_g
        sd["encoder.pos_conv.0.weight_v"] = pc.weight_v
    else:
        sd["encoder.pos_conv.0.parametrizations.weight.original0"] = pc.weight_g
        sd["encoder.pos_conv.0.parametrizations.weight.original1"] = pc.weight_v
    sd["encoder.pos_conv.0.bias"] = pc.bias
    sd["encoder.layer_norm.weight"] = enc.encoder.layer_norm.weight
    sd["encoder.layer_norm.bias"] = enc.encoder.layer_norm.bias
    for i, layer in enumerate(enc.encoder.layers):
        p = f"encoder.layers.{i}."
        for proj in ("q", "k", "v", "out"):
            lin = getattr(layer.attention, f"{proj}_proj")
            sd[f"{p}self_attn.{proj}_proj.weight"] = lin.weight
            sd[f"{p}self_attn.{proj}_proj.bias"] = lin.bias
        for ours, theirs in (
            ("attn_layer_norm", "self_attn_layer_norm"),
            ("fc1", "fc1"),
            ("fc2", "fc2"),
            ("final_layer_norm", "final_layer_norm"),
        ):
            sd[f"{p}{theirs}.weight"] = getattr(layer, ours).weight
            sd[f"{p}{theirs}.bias"] = getattr(layer, ours).bias
    # pretraining-only parts, which the loader must report and skip
    sd["quantizer.vars"] = torch.randn(1, 16, 8)
    sd["quantizer.weight_proj.weight"] = torch.randn(16, cfg.feature_dim)
    sd["quantizer.weight_proj.bias"] = torch.randn(16)
    sd["project_q.weight"] = torch.randn(16, 16)
    sd["project_q.bias"] = torch.randn(16)
    sd["final_proj.weight"] = torch.randn(16, cfg.embed_dim)
    sd["final_proj.bias"] = torch.randn(16)
    return {k: v.detach().clone() for k, v in sd.items()}


def finetuned_model_config(name: str) -> Dict[str, Any]:
    """fairseq ``Wav2Vec2AsrConfig`` fine-tuning fields of a model ``name`` (``cfg['model']``
    of a fine-tuned checkpoint, without ``w2v_args``)."""
    return {
        "_name": name,
        "apply_mask": True,
        "mask_prob": 0.75,
        "mask_channel_prob": 0.25,
        "mask_channel_length": 64,
        "layerdrop": 0.1,
        "dropout": 0.0,
        "activation_dropout": 0.1,
        "attention_dropout": 0.0,
        "feature_grad_mult": 0.0,
        "w2v_path": "/path/to/xlsr2_300m.pt",
    }


def write_fairseq_checkpoint(
    enc: XLSREncoder,
    path: Path,
    style: str = "cfg",
    finetuned: bool = False,
    vocab_size: int = 12,
    weight_norm: str = "g_v",
) -> Path:
    """Writes ``enc`` as a fairseq checkpoint (as fairseq's ``save_checkpoint`` lays it out).

    Args:
        style: "cfg" (hydra-era dict ``cfg`` with ``model``/``task``) or "args" (legacy
            ``argparse.Namespace``).
        finetuned: a ``wav2vec_ctc`` checkpoint: keys under ``w2v_encoder.w2v_model.``, a CTC
            projection ``w2v_encoder.proj``, the pretraining config in ``w2v_args``.
    """
    model_cfg = fairseq_model_config(enc.cfg)
    task = {
        "_name": "audio_pretraining",
        "normalize": enc.cfg.normalize_waveform,
        "sample_rate": 16000,
    }
    state = fairseq_state_dict(enc, weight_norm)
    if finetuned:
        state = {f"w2v_encoder.w2v_model.{k}": v for k, v in state.items()}
        state["w2v_encoder.proj.weight"] = torch.randn(vocab_size, enc.cfg.embed_dim)
        state["w2v_encoder.proj.bias"] = torch.randn(vocab_size)
        ft_model = finetuned_model_config("wav2vec_ctc")
        ft_task = {**task, "_name": "audio_finetuning"}
    if style == "cfg":
        if finetuned:
            ft_model["w2v_args"] = {"model": model_cfg, "task": task}
            cfg = {"model": ft_model, "task": ft_task}
        else:
            cfg = {"model": model_cfg, "task": task}
        ckpt = {"args": None, "cfg": cfg, "model": state}
    elif style == "args":
        # legacy: one Namespace with the model's name in ``arch`` and the task's in ``task``
        def legacy(model: Dict[str, Any], task: Dict[str, Any]) -> Dict[str, Any]:
            flat = {**model, **task, "arch": model["_name"], "task": task["_name"]}
            del flat["_name"]
            return flat

        flat = legacy(model_cfg, task)
        if finetuned:
            ft = legacy(ft_model, ft_task)
            ft["w2v_args"] = argparse.Namespace(**flat)
            flat = ft
        ckpt = {"args": argparse.Namespace(**flat), "model": state}
    else:
        raise ValueError(f"style must be 'cfg' or 'args', got {style!r}")
    ckpt.update(
        {"optimizer_history": [], "extra_state": {"epoch": 1}, "last_optimizer_state": None}
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


class _Dictionary:
    """Pickles as ``fairseq.data.dictionary.Dictionary`` (see :func:`_as_fairseq_class`)."""

    def __init__(self, symbols, counts) -> None:
        # Dictionary(add_special_symbols=False).add_from_file(...): the attributes it pickles
        self.bos_word, self.unk_word, self.pad_word, self.eos_word = "<s>", "<unk>", "<pad>", "</s>"
        self.symbols, self.count = list(symbols), list(counts)
        self.indices = {s: i for i, s in enumerate(self.symbols)}


@contextlib.contextmanager
def _as_fairseq_class(cls: type, module: str, name: str):
    """While active, pickle writes ``cls`` as ``module.name`` (a stand-in module is added
    to ``sys.modules`` for fairseq, which is not installed)."""
    parts = module.split(".")
    added = [".".join(parts[: i + 1]) for i in range(len(parts))]
    added = [m for m in added if m not in sys.modules]
    for m in added:
        sys.modules[m] = types.ModuleType(m)
    old = (cls.__module__, cls.__qualname__)
    cls.__module__, cls.__qualname__ = module, name
    setattr(sys.modules[module], name, cls)
    try:
        yield
    finally:
        cls.__module__, cls.__qualname__ = old
        for m in added:
            del sys.modules[m]


def write_fairseq_classifier(
    enc: XLSREncoder,
    path: Path,
    labels,
    latent_dim: int = 16,
    activation: str = "gelu",
    pooling: str = "mean",
    task_state: bool = True,
    label_ext: str = "lang",
    seed: int = 0,
) -> Path:
    """Writes ``enc`` as a fairseq ``wav2vec_classification`` checkpoint (the layout of the
    released XLS-R LID model): the encoder under ``w2v_encoder.w2v_model.``, a random
    ``MeanPoolingFast`` head ``pooling_layer.linear`` (latent, D) / ``pooling_layer.projection``
    (classes, latent), the ``audio_classification`` task config.

    Args:
        labels: the label dictionary by class id.
        task_state: save it as fairseq does (``task_state["target_dictionary"]``, a pickled
            ``Dictionary``); otherwise the caller writes ``dict.<label_ext>.txt``.
    """
    g = torch.Generator().manual_seed(seed)
    state = {f"w2v_encoder.w2v_model.{k}": v for k, v in fairseq_state_dict(enc).items()}
    shapes = {"linear": (latent_dim, enc.cfg.embed_dim), "projection": (len(labels), latent_dim)}
    for layer, shape in shapes.items():
        state[f"pooling_layer.{layer}.weight"] = torch.randn(shape, generator=g) / shape[1] ** 0.5
        state[f"pooling_layer.{layer}.bias"] = 0.1 * torch.randn(shape[0], generator=g)
    task = {"_name": "audio_pretraining", "normalize": enc.cfg.normalize_waveform}
    model = finetuned_model_config("wav2vec_classification")
    model.update(pooling=pooling, latent_embed_dim=latent_dim, activation_fn=activation)
    model.update(w2v_args={"model": fairseq_model_config(enc.cfg), "task": task})
    ft_task = {**task, "_name": "audio_classification", "labels": label_ext}
    ft_task.update(data="/path/to/manifest", target_dictionary=None, sample_rate=16000)
    ckpt = {"args": None, "cfg": {"model": model, "task": ft_task}, "model": state}
    ckpt.update(optimizer_history=[], extra_state={"epoch": 1}, last_optimizer_state=None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not task_state:
        torch.save(ckpt, path)
        return path
    ckpt["task_state"] = {
        "target_dictionary": _Dictionary(labels, range(1000, 1000 - len(labels), -1))
    }
    with _as_fairseq_class(_Dictionary, "fairseq.data.dictionary", "Dictionary"):
        torch.save(ckpt, path)
    return path


# -------------------------------------------------------------------------- Hugging Face


def hf_config(enc: XLSREncoder, architecture: str = "Wav2Vec2Model", vocab_size: int = 12):
    """transformers ``Wav2Vec2Config`` fields (config.json) for ``enc``."""
    cfg = enc.cfg
    return {
        "architectures": [architecture],
        "model_type": "wav2vec2",
        "feat_extract_norm": "layer" if cfg.extractor_mode == "layer_norm" else "group",
        "feat_extract_activation": "gelu",
        "conv_dim": [c for c, _, _ in cfg.conv_layers],
        "conv_kernel": [k for _, k, _ in cfg.conv_layers],
        "conv_stride": [s for _, _, s in cfg.conv_layers],
        "conv_bias": cfg.conv_bias,
        "hidden_size": cfg.embed_dim,
        "num_hidden_layers": cfg.num_layers,
        "intermediate_size": cfg.ffn_dim,
        "num_attention_heads": cfg.num_heads,
        "hidden_act": cfg.activation,
        "num_conv_pos_embeddings": cfg.conv_pos,
        "num_conv_pos_embedding_groups": cfg.conv_pos_groups,
        "do_stable_layer_norm": cfg.layer_norm_first,
        "layer_norm_eps": cfg.layer_norm_eps,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "feat_proj_dropout": 0.0,
        "layerdrop": 0.0,
        "apply_spec_augment": True,
        "mask_time_prob": 0.05,
        "mask_time_length": 10,
        "mask_feature_prob": 0.0,
        "mask_feature_length": 10,
        "vocab_size": vocab_size,
        "num_codevectors_per_group": 8,
        "num_codevector_groups": 2,
        "codevector_dim": 16,
        "proj_codevector_dim": 16,
    }


def hf_state_dict(
    enc: XLSREncoder,
    architecture: str = "Wav2Vec2Model",
    weight_norm: str = "g_v",
    vocab_size: int = 12,
) -> Dict[str, Tensor]:
    """Our weights under transformers' names for ``architecture``."""
    sd: Dict[str, Tensor] = {}
    for i, block in enumerate(enc.feature_extractor.conv_layers):
        sd[f"feature_extractor.conv_layers.{i}.conv.weight"] = block.conv.weight
        if block.conv.bias is not None:
            sd[f"feature_extractor.conv_layers.{i}.conv.bias"] = block.conv.bias
        if block.norm is not None:
            sd[f"feature_extractor.conv_layers.{i}.layer_norm.weight"] = block.norm.weight
            sd[f"feature_extractor.conv_layers.{i}.layer_norm.bias"] = block.norm.bias
    fp = enc.feature_projection
    for part in ("layer_norm", "projection"):
        sd[f"feature_projection.{part}.weight"] = getattr(fp, part).weight
        sd[f"feature_projection.{part}.bias"] = getattr(fp, part).bias
    sd["masked_spec_embed"] = enc.mask_emb
    pc = enc.encoder.pos_conv
    if weight_norm == "g_v":
        sd["encoder.pos_conv_embed.conv.weight_g"] = pc.weight_g
        sd["encoder.pos_conv_embed.conv.weight_v"] = pc.weight_v
    else:
        sd["encoder.pos_conv_embed.conv.parametrizations.weight.original0"] = pc.weight_g
        sd["encoder.pos_conv_embed.conv.parametrizations.weight.original1"] = pc.weight_v
    sd["encoder.pos_conv_embed.conv.bias"] = pc.bias
    sd["encoder.layer_norm.weight"] = enc.encoder.layer_norm.weight
    sd["encoder.layer_norm.bias"] = enc.encoder.layer_norm.bias
    for i, layer in enumerate(enc.encoder.layers):
        p = f"encoder.layers.{i}."
        for proj in ("q", "k", "v", "out"):
            lin = getattr(layer.attention, f"{proj}_proj")
            sd[f"{p}attention.{proj}_proj.weight"] = lin.weight
            sd[f"{p}attention.{proj}_proj.bias"] = lin.bias
        for ours, theirs in (
            ("attn_layer_norm", "layer_norm"),
            ("fc1", "feed_forward.intermediate_dense"),
            ("fc2", "feed_forward.output_dense"),
            ("final_layer_norm", "final_layer_norm"),
        ):
            sd[f"{p}{theirs}.weight"] = getattr(layer, ours).weight
            sd[f"{p}{theirs}.bias"] = getattr(layer, ours).bias
    sd = {k: v.detach().clone() for k, v in sd.items()}
    if architecture == "Wav2Vec2Model":
        return sd
    sd = {f"wav2vec2.{k}": v for k, v in sd.items()}
    d = enc.cfg.embed_dim
    if architecture == "Wav2Vec2ForCTC":
        sd["lm_head.weight"] = torch.randn(vocab_size, d)
        sd["lm_head.bias"] = torch.randn(vocab_size)
    elif architecture == "Wav2Vec2ForPreTraining":
        sd["quantizer.codevectors"] = torch.randn(1, 16, 8)
        sd["quantizer.weight_proj.weight"] = torch.randn(16, enc.cfg.feature_dim)
        sd["quantizer.weight_proj.bias"] = torch.randn(16)
        sd["project_hid.weight"] = torch.randn(16, d)
        sd["project_hid.bias"] = torch.randn(16)
        sd["project_q.weight"] = torch.randn(16, 16)
        sd["project_q.bias"] = torch.randn(16)
    else:
        raise ValueError(f"unknown architecture {architecture!r}")
    return sd


def write_safetensors(state: Dict[str, Tensor], path: Path) -> None:
    """Writes the safetensors format: u64 header size, JSON header, raw little-endian data."""
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
    header: Dict[str, Any] = {}
    chunks = []
    offset = 0
    for key, t in state.items():
        t = t.detach().contiguous().cpu()
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[key] = {
            "dtype": names[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(len(blob).to_bytes(8, "little"))
        f.write(blob)
        for c in chunks:
            f.write(c)


def write_hf_dir(
    enc: XLSREncoder,
    path: Path,
    architecture: str = "Wav2Vec2Model",
    weights: str = "safetensors",
    weight_norm: str = "g_v",
) -> Path:
    """Writes a Hugging Face model directory (config.json + weights) for ``enc``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(hf_config(enc, architecture), indent=2))
    (path / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": enc.cfg.normalize_waveform, "sampling_rate": 16000})
    )
    state = hf_state_dict(enc, architecture, weight_norm)
    if weights == "safetensors":
        write_safetensors(state, path / "model.safetensors")
    elif weights == "bin":
        torch.save(state, path / "pytorch_model.bin")
    else:
        raise ValueError(f"weights must be 'safetensors' or 'bin', got {weights!r}")
    return path


def write_hf_classifier_dir(
    enc: XLSREncoder, path: Path, labels, proj_size: int = 16, weighted: bool = False, seed: int = 0
) -> Path:
    """Writes a transformers ``Wav2Vec2ForSequenceClassification`` directory for ``enc`` with
    a random head: ``projector`` (proj_size, D), ``classifier`` (labels, proj_size), with
    ``weighted`` a ``layer_weights`` (num_layers + 1,); ``id2label`` in class-id order."""
    g = torch.Generator().manual_seed(seed)
    arch = "Wav2Vec2ForSequenceClassification"
    path = write_hf_dir(enc, path)  # the bare encoder, made a classifier below
    cfg = hf_config(enc, arch)
    cfg.update(classifier_proj_size=proj_size, use_weighted_layer_sum=weighted)
    cfg.update(id2label={str(i): label for i, label in enumerate(labels)})
    cfg.update(label2id={label: i for i, label in enumerate(labels)})
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    state = {f"wav2vec2.{k}": v for k, v in hf_state_dict(enc).items()}
    shapes = {"projector": (proj_size, enc.cfg.embed_dim), "classifier": (len(labels), proj_size)}
    for name, shape in shapes.items():
        state[f"{name}.weight"] = torch.randn(shape, generator=g) / shape[1] ** 0.5
        state[f"{name}.bias"] = 0.1 * torch.randn(shape[0], generator=g)
    if weighted:
        state["layer_weights"] = torch.randn(enc.cfg.num_layers + 1, generator=g)
    write_safetensors(state, path / "model.safetensors")
    return path


def padded_batch(lengths, seed: int = 0, pad_value: float = 0.0):
    """Per-utterance normalised random waveforms, zero-padded: (waveforms (B, S), lengths (B,))."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    wav = torch.full((len(lengths), int(lengths.max())), pad_value)
    for i, n in enumerate(lengths.tolist()):
        x = torch.randn(n, generator=g)
        wav[i, :n] = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
    return wav, lengths


def hf_st_config(model: StModel, forced_bos_token_id: Optional[int] = None) -> Dict[str, Any]:
    """transformers ``SpeechEncoderDecoderConfig`` fields (config.json) for an ``StModel``:
    wav2vec2 encoder with ``add_adapter`` (``output_hidden_size`` = the decoder width) and an
    ``MBartForCausalLM`` decoder; ids bos 0, pad 1, eos 2, decoding starts with eos."""
    cfg = model.cfg
    adapter = cfg.adaptor_layers > 0
    if adapter and (cfg.adaptor_kernel != 3 or cfg.encoder_proj != cfg.encoder_proj_layer_norm):
        raise ValueError("HF's adapter: kernel 3, and a projection always with its LayerNorm")
    if not adapter and cfg.encoder_proj_layer_norm:
        raise ValueError("HF's enc_to_dec_proj has no LayerNorm")
    encoder = hf_config(model.encoder, "Wav2Vec2Model")
    encoder.update(
        add_adapter=adapter,
        num_adapter_layers=cfg.adaptor_layers,
        adapter_kernel_size=cfg.adaptor_kernel,
        adapter_stride=cfg.adaptor_stride,
        output_hidden_size=cfg.decoder_embed_dim if adapter else model.encoder.cfg.embed_dim,
    )
    ids = {"bos_token_id": 0, "pad_token_id": cfg.pad_id, "eos_token_id": cfg.eos_id}
    decoder = {
        "architectures": ["MBartForCausalLM"],
        "model_type": "mbart",
        "vocab_size": cfg.vocab_size,
        "d_model": cfg.decoder_embed_dim,
        "decoder_layers": cfg.decoder_layers,
        "decoder_attention_heads": cfg.decoder_attention_heads,
        "decoder_ffn_dim": cfg.decoder_ffn_embed_dim,
        "max_position_embeddings": cfg.max_target_positions,
        "activation_function": "gelu",
        "scale_embedding": True,
        "dropout": cfg.dropout,
        "attention_dropout": cfg.attention_dropout,
        "activation_dropout": cfg.activation_dropout,
        "is_decoder": True,
        "add_cross_attention": True,
        "tie_word_embeddings": True,
        **ids,
    }
    top = {"architectures": ["SpeechEncoderDecoderModel"], "model_type": "speech-encoder-decoder"}
    top.update(is_encoder_decoder=True, decoder_start_token_id=cfg.eos_id, **ids)
    if forced_bos_token_id is not None:
        top["forced_bos_token_id"] = forced_bos_token_id
    return {**top, "encoder": encoder, "decoder": decoder}


def hf_st_state_dict(model: StModel) -> Dict[str, Tensor]:
    """An ``StModel``'s weights under ``SpeechEncoderDecoderModel``'s names: ``encoder.`` +
    Wav2Vec2Model's, ``encoder.adapter.{proj,proj_layer_norm,layers.N.conv}`` (or
    ``enc_to_dec_proj`` without an adapter), ``decoder.model.decoder.*`` (MBartDecoder, whose
    module names are ours), ``decoder.lm_head.weight`` (tied: embed_tokens)."""
    sd = {f"encoder.{k}": v for k, v in hf_state_dict(model.encoder).items()}
    proj = "encoder.adapter.proj" if model.adaptor is not None else "enc_to_dec_proj"
    for ours, theirs in ((model.encoder_proj, proj), (model.encoder_proj_ln, f"{proj}_layer_norm")):
        if ours is not None:
            sd[f"{theirs}.weight"], sd[f"{theirs}.bias"] = ours.weight, ours.bias
    for i, conv in enumerate(model.adaptor.layers if model.adaptor is not None else []):
        sd[f"encoder.adapter.layers.{i}.conv.weight"] = conv.weight
        sd[f"encoder.adapter.layers.{i}.conv.bias"] = conv.bias
    for name, t in model.decoder.state_dict().items():
        sd[f"decoder.model.decoder.{name}"] = t
    sd["decoder.lm_head.weight"] = model.decoder.embed_tokens.weight
    return {k: v.detach().clone() for k, v in sd.items()}


def write_hf_st_dir(model: StModel, path: Path, forced_bos_token_id: Optional[int] = None) -> Path:
    """Writes a transformers ``SpeechEncoderDecoderModel`` directory for an ``StModel``
    (config.json, preprocessor_config.json, model.safetensors; no tokenizer)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = hf_st_config(model, forced_bos_token_id)
    (path / "config.json").write_text(json.dumps(cfg, indent=2))
    (path / "preprocessor_config.json").write_text(
        json.dumps({"do_normalize": model.encoder.cfg.normalize_waveform, "sampling_rate": 16000})
    )
    write_safetensors(hf_st_state_dict(model), path / "model.safetensors")
    return path


def write_fairseq_st_checkpoint(model: StModel, path: Path) -> Path:
    """Writes an ``StModel`` as a fairseq ``xm_transformer`` checkpoint (hydra-era ``cfg``):
    ``encoder.w2v_encoder.w2v_model.*`` (wav2vec 2.0), ``encoder.w2v_encoder.proj``,
    ``encoder.w2v_proj_ln``, ``encoder.adaptor.layers.N``, ``decoder.*`` (TransformerDecoder
    with mBART's options) and the tied ``decoder.output_projection.weight``; the pretraining
    config embedded in ``w2v_args``."""
    cfg, enc = model.cfg, model.encoder
    task = {"_name": "audio_pretraining", "normalize": enc.cfg.normalize_waveform}
    model_cfg = {
        **finetuned_model_config("xm_transformer"),
        "w2v_args": {"model": fairseq_model_config(enc.cfg), "task": task},
        "encoder_proj": cfg.encoder_proj,
        "adaptor_n_layers": cfg.adaptor_layers,
        "adaptor_kernel_size": cfg.adaptor_kernel,
        "adaptor_stride": cfg.adaptor_stride,
        "adaptor_layernorm": False,
        "adaptor_proj": False,
        "decoder_embed_dim": cfg.decoder_embed_dim,
        "decoder_ffn_embed_dim": cfg.decoder_ffn_embed_dim,
        "decoder_layers": cfg.decoder_layers,
        "decoder_attention_heads": cfg.decoder_attention_heads,
        "decoder_normalize_before": True,
        "decoder_learned_pos": True,
        "layernorm_embedding": True,
        "no_scale_embedding": False,
        "share_decoder_input_output_embed": True,
        "max_target_positions": cfg.max_target_positions,
        "activation_fn": "gelu",
        "decoder_dropout": cfg.dropout,
    }
    state = {f"encoder.w2v_encoder.w2v_model.{k}": v for k, v in fairseq_state_dict(enc).items()}
    projections = (
        (model.encoder_proj, "encoder.w2v_encoder.proj"),
        (model.encoder_proj_ln, "encoder.w2v_proj_ln"),
    )
    for ours, theirs in projections:
        if ours is not None:
            state[f"{theirs}.weight"], state[f"{theirs}.bias"] = ours.weight, ours.bias
    for i, conv in enumerate(model.adaptor.layers if model.adaptor is not None else []):
        state[f"encoder.adaptor.layers.{i}.weight"] = conv.weight
        state[f"encoder.adaptor.layers.{i}.bias"] = conv.bias
    for name, t in model.decoder.state_dict().items():
        state[f"decoder.{name}"] = t
    state["decoder.output_projection.weight"] = model.decoder.embed_tokens.weight
    state = {k: v.detach().clone() for k, v in state.items()}
    ckpt = {"args": None, "cfg": {"model": model_cfg, "task": {"_name": "speech_to_text"}}}
    ckpt.update(model=state, optimizer_history=[], extra_state={}, last_optimizer_state=None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def random_st_model(vocab_size: int, seed: int = 0, d: int = 32) -> StModel:
    """A tiny ``StModel`` (tiny encoder, 2-layer adaptor, 2-layer decoder of width ``d``) in
    eval mode whose decoder, adaptor and projection weights are all random (gains 1 + and
    biases N(0, 0.2), embeddings N(0, 0.3), matrices N(0, 0.5)): strong enough that greedy
    output depends on the audio and the language tag; the eos embedding is doubled so that
    some hypotheses end before the length limit."""
    from xlsr.models.st import StConfig

    cfg = StConfig(
        vocab_size=vocab_size,
        decoder_embed_dim=d,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_embed_dim=64,
        max_target_positions=64,
        adaptor_layers=2,
        encoder_proj=d != 32,
        encoder_proj_layer_norm=d != 32,
    )
    model = StModel(random_encoder(tiny_config(), seed=seed + 1), cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("encoder."):
                continue
            noise = torch.randn(p.shape, generator=g)
            if p.dim() == 1:  # LayerNorm gains around 1, biases around 0
                p.copy_(float(name.endswith(".weight")) + 0.2 * noise)
            else:
                p.copy_((0.3 if "embed_tokens" in name else 0.5) * noise)
        model.decoder.embed_tokens.weight[cfg.eos_id] *= 2.0
    return model.eval()


def _train_spm(prefix: Path, texts, vocab_size: int, symbols=()) -> None:
    import sentencepiece as spm

    prefix.parent.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)),
        model_prefix=str(prefix),
        model_type="unigram",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        user_defined_symbols=list(symbols),
        minloglevel=2,
        num_threads=1,
    )


def write_hf_mbart50_tokenizer(directory: Path, texts, vocab_size: int = 60) -> int:
    """Writes a tiny transformers ``MBart50Tokenizer`` into ``directory``: a unigram
    ``sentencepiece.bpe.model`` trained on ``texts`` (ids 0-2 ``<unk> <s> </s>``, as
    mBART-50's) and ``tokenizer_config.json``. Returns the model's vocabulary size: the
    sentencepiece pieces + 1 (fairseq's ``<pad>``) + 52 language codes + ``<mask>``."""
    import sentencepiece as spm

    directory = Path(directory)
    _train_spm(directory / "sentencepiece.bpe", texts, vocab_size)
    (directory / "sentencepiece.bpe.vocab").unlink()
    config = {"tokenizer_class": "MBart50Tokenizer", "src_lang": "en_XX", "tgt_lang": "en_XX"}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    sp = spm.SentencePieceProcessor(model_file=str(directory / "sentencepiece.bpe.model"))
    return sp.get_piece_size() + 1 + 52 + 1


def write_fairseq_st_vocabulary(
    directory: Path, texts, tags=("<lang:de>", "<lang:en>", "<lang:fr>"), vocab_size: int = 60
) -> int:
    """Writes a fairseq speech-to-text target vocabulary into ``directory``: ``spm.model``
    (unigram, the language ``tags`` as user-defined symbols, as fairseq's ``prep_*_data.py``
    build them) and ``dict.txt`` (its pieces but ``<unk> <s> </s>``, ``piece 1`` lines, in
    sentencepiece order). Returns the model's vocabulary size (4 specials + the lines)."""
    import sentencepiece as spm

    directory = Path(directory)
    _train_spm(directory / "spm", texts, vocab_size, tags)
    sp = spm.SentencePieceProcessor(model_file=str(directory / "spm.model"))
    skip = {sp.unk_id(), sp.bos_id(), sp.eos_id()}
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if i not in skip]
    (directory / "dict.txt").write_text("".join(f"{p} 1\n" for p in pieces), encoding="utf-8")
    return 4 + len(pieces)
