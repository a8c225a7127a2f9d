"""Loading and saving encoders: fairseq checkpoints, Hugging Face directories, our format.

``load_encoder(path)`` reads the architecture from the checkpoint itself (never from
defaults), maps every encoder key explicitly, and raises :class:`CheckpointError` naming
the file and the problem for anything it cannot use. Keys that belong to other parts of a
checkpoint (quantizer, ``project_q``, ``final_proj``, a CTC head) are listed in the load
report and logged at debug level; keys that look like encoder keys but are unknown are an
error, never dropped.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import torch
from torch import Tensor

from xlsr.models.config import EncoderConfig
from xlsr.models.encoder import XLSREncoder
from xlsr.models.safe_pickle import to_plain, torch_load

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
OUR_FORMAT = "xlsr-k2-encoder"
#: Keys a checkpoint may lack: HF only creates ``masked_spec_embed`` when masking is on.
OPTIONAL_KEYS = {"mask_emb"}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message starts with the path."""

    def __init__(self, path: PathLike, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)


@dataclass
class LoadReport:
    """What :func:`load_encoder` did with a checkpoint's keys."""

    path: str
    format: str  # "fairseq", "huggingface" or "xlsr"
    architecture: str  # e.g. "wav2vec2", "wav2vec_ctc", "Wav2Vec2ForCTC"
    config: EncoderConfig
    used: Dict[str, str] = field(default_factory=dict)  # checkpoint key -> our key
    ignored: List[str] = field(default_factory=list)  # non-encoder keys (heads, quantizer)
    not_in_checkpoint: List[str] = field(default_factory=list)  # optional keys left at init

    def summary(self) -> str:
        return (
            f"{self.path}: {self.format} {self.architecture}, {self.config.num_layers} layers x "
            f"{self.config.embed_dim}, {len(self.used)} keys used, {len(self.ignored)} ignored"
        )


# --------------------------------------------------------------------------------------------
# key mappings: (regex over the checkpoint key, replacement giving our key)

_LAYER = r"encoder\.layers\.(\d+)\."
FAIRSEQ_KEY_MAP: List[Tuple[str, str]] = [
    (r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.2\.1\.(weight|bias)", r"feature_extractor.conv_layers.\1.norm.\2"),  # LayerNorm mode
    (r"feature_extractor\.conv_layers\.0\.2\.(weight|bias)", r"feature_extractor.conv_layers.0.norm.\1"),  # GroupNorm mode
    (r"layer_norm\.(weight|bias)", r"feature_projection.layer_norm.\1"),
    (r"post_extract_proj\.(weight|bias)", r"feature_projection.projection.\1"),
    (r"mask_emb", r"mask_emb"),
    (r"encoder\.pos_conv\.0\.(weight_g|weight_v|bias)", r"encoder.pos_conv.\1"),
    (r"encoder\.pos_conv\.0\.parametrizations\.weight\.original0", r"encoder.pos_conv.weight_g"),
    (r"encoder\.pos_conv\.0\.parametrizations\.weight\.original1", r"encoder.pos_conv.weight_v"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (_LAYER + r"self_attn\.(q|k|v|out)_proj\.(weight|bias)", r"encoder.layers.\1.attention.\2_proj.\3"),
    (_LAYER + r"self_attn_layer_norm\.(weight|bias)", r"encoder.layers.\1.attn_layer_norm.\2"),
    (_LAYER + r"(fc1|fc2|final_layer_norm)\.(weight|bias)", r"encoder.layers.\1.\2.\3"),
]  # fmt: skip
#: fairseq keys outside the encoder: pretraining heads, the fine-tuned CTC projection, the
#: classifier head (``wav2vec_classification``).
FAIRSEQ_IGNORED = ("quantizer.", "project_q.", "final_proj.", "project_inp.", "target_glu.",
                   "w2v_encoder.proj.", "decoder.", "pooling_layer.")  # fmt: skip

HF_KEY_MAP: List[Tuple[str, str]] = [
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.(weight|bias)", r"feature_extractor.conv_layers.\1.conv.\2"),
    (r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)", r"feature_extractor.conv_layers.\1.norm.\2"),
    (r"feature_projection\.(layer_norm|projection)\.(weight|bias)", r"feature_projection.\1.\2"),
    (r"masked_spec_embed", r"mask_emb"),
    (r"encoder\.pos_conv_embed\.conv\.(weight_g|weight_v|bias)", r"encoder.pos_conv.\1"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", r"encoder.pos_conv.weight_g"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", r"encoder.pos_conv.weight_v"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (_LAYER + r"attention\.(q|k|v|out)_proj\.(weight|bias)", r"encoder.layers.\1.attention.\2_proj.\3"),
    (_LAYER + r"layer_norm\.(weight|bias)", r"encoder.layers.\1.attn_layer_norm.\2"),
    (_LAYER + r"feed_forward\.intermediate_dense\.(weight|bias)", r"encoder.layers.\1.fc1.\2"),
    (_LAYER + r"feed_forward\.output_dense\.(weight|bias)", r"encoder.layers.\1.fc2.\2"),
    (_LAYER + r"final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
]  # fmt: skip
HF_IGNORED = ("lm_head.", "quantizer.", "project_hid.", "project_q.", "projector.", "classifier.",
              "layer_weights", "dropout_features", "tdnn.", "feature_extractor_", "objective.")  # fmt: skip


def map_state_dict(
    path: PathLike,
    state: Dict[str, Tensor],
    rules: List[Tuple[str, str]],
    ignored_prefixes: Tuple[str, ...],
    strip_prefixes: Tuple[str, ...],
    report: LoadReport,
) -> Dict[str, Tensor]:
    """Renames checkpoint keys to ours by ``rules``; unknown keys raise CheckpointError."""
    compiled = [(re.compile(pat + r"$"), rep) for pat, rep in rules]
    out: Dict[str, Tensor] = {}
    unknown = []
    for key, value in state.items():
        inner = key
        for prefix in strip_prefixes:
            if inner.startswith(prefix):
                inner = inner[len(prefix) :]
                break
        target = None
        for pat, rep in compiled:
            if pat.match(inner):
                target = pat.sub(rep, inner)
                break
        if target is not None:
            out[target] = value
            report.used[key] = target
        elif inner.startswith(ignored_prefixes) or key.startswith(ignored_prefixes):
            report.ignored.append(key)
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(
            path,
            f"{len(unknown)} unexpected key(s) that are not part of a wav2vec 2.0 encoder: "
            f"{unknown[:8]}{' ...' if len(unknown) > 8 else ''}",
        )
    for key in report.ignored:
        logger.debug("%s: ignoring non-encoder key %s", path, key)
    return out


def load_mapped_head(
    model: torch.nn.Module,
    mapped: Dict[str, Tensor],
    path: PathLike,
    tied: Dict[str, Tuple[Any, str]],
    skip_prefix: str = "encoder.",
) -> None:
    """Loads a head whose checkpoint keys are already mapped to ours: every parameter and
    buffer of ``model`` outside ``skip_prefix`` must be in ``mapped``, shaped as ours, and
    nothing else.

    Args:
        model: the model, already built with the head's shapes.
        mapped: our name -> the checkpoint's tensor.
        path: the checkpoint (for messages).
        tied: the checkpoint's name of an output weight that ours ties -> (its tensor or
            None when absent, our name of the weight it must equal).

    Raises:
        CheckpointError: naming the missing, unexpected or misshapen tensors, or a tied
            weight that differs.
    """
    ours = {k: v for k, v in model.state_dict().items() if not k.startswith(skip_prefix)}
    missing, extra = sorted(set(ours) - set(mapped)), sorted(set(mapped) - set(ours))
    if missing or extra:
        raise CheckpointError(path, f"weights missing: {missing[:8]}; unexpected: {extra[:8]}")
    for key, value in mapped.items():
        if value.shape != ours[key].shape:
            raise CheckpointError(
                path, f"{key} has shape {tuple(value.shape)}, ours {tuple(ours[key].shape)}"
            )
    for name, (tensor, our_name) in tied.items():
        if tensor is not None and not torch.equal(tensor, mapped[our_name]):
            raise CheckpointError(
                path, f"{name} differs from {our_name.split('.')[-2]}: ours is tied"
            )
    model.load_state_dict({k: v.float() for k, v in mapped.items()}, strict=False)


def copy_head(
    model: torch.nn.Module, state: Dict[str, Tensor], key_map: Dict[str, str], path: PathLike
) -> None:
    """Copies a head's tensors from a checkpoint into ``model``, key for key.

    Args:
        model: the model, already built with the head's shapes.
        state: the checkpoint's tensors.
        key_map: checkpoint key -> our parameter name (every pair is required).
        path: the checkpoint (for messages).

    Raises:
        CheckpointError: naming the missing keys, or a tensor of another shape.
    """
    ours = dict(model.named_parameters())
    unbuilt = sorted(name for name in key_map.values() if name not in ours)
    if unbuilt:
        raise CheckpointError(path, f"the model built for it has no {unbuilt} (config?)")
    missing = sorted(k for k in key_map if k not in state)
    if missing:
        raise CheckpointError(path, f"head weight(s) missing from the checkpoint: {missing}")
    with torch.no_grad():
        for theirs, name in key_map.items():
            if state[theirs].shape != ours[name].shape:
                raise CheckpointError(
                    path,
                    f"{theirs} has shape {tuple(state[theirs].shape)}, the model's {name} "
                    f"{tuple(ours[name].shape)}",
                )
            ours[name].copy_(state[theirs].float())


def build_encoder(path: PathLike, state: Dict[str, Tensor], report: LoadReport) -> XLSREncoder:
    """Builds the encoder of ``report.config`` and loads ``state`` (our key names) into it."""
    encoder = XLSREncoder(report.config)
    expected = encoder.state_dict()
    missing = sorted(set(expected) - set(state) - OPTIONAL_KEYS)
    if missing:
        raise CheckpointError(
            path,
            f"{len(missing)} encoder weight(s) missing from the checkpoint: {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''} (is it a wav2vec 2.0 encoder of this size?)",
        )
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(
            path,
            f"weights for layers this config does not have: {extra[:8]} "
            f"(config says {report.config.num_layers} layers / {len(report.config.conv_layers)} "
            "conv layers)",
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(
                path,
                f"weight {key} has shape {tuple(value.shape)}, the config implies "
                f"{tuple(expected[key].shape)}",
            )
    report.not_in_checkpoint = sorted(set(expected) - set(state))
    for key in report.not_in_checkpoint:
        logger.info("%s: %s not in checkpoint, left at its initial value", path, key)
        state[key] = expected[key]
    encoder.load_state_dict(state, strict=True)
    encoder.load_report = report  # type: ignore[attr-defined]
    logger.info("%s", report.summary())
    return encoder


# --------------------------------------------------------------------------------------------
# fairseq


def parse_conv_layers(spec: Union[str, list]) -> List[Tuple[int, int, int]]:
    """Evaluates fairseq's ``conv_feature_layers`` string (list/tuple literals, + and *) safely."""
    if not isinstance(spec, str):
        return [tuple(int(v) for v in layer) for layer in spec]

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported expression in conv_feature_layers: {ast.dump(node)}")

    layers = ev(ast.parse(spec, mode="eval"))
    return [tuple(int(v) for v in layer) for layer in layers]


FAIRSEQ_PRETRAIN_ARCHS = ("wav2vec2",)
FAIRSEQ_FINETUNED_ARCHS = (
    "wav2vec_ctc",
    "wav2vec2_ctc",
    "wav2vec_seq2seq",
    "wav2vec2_seq2seq",
    "wav2vec_classification",
)
#: fine-tuning options that fairseq's Wav2VecEncoder copies over the pretraining config.
FINETUNE_OVERRIDES = {
    "dropout": "dropout",
    "attention_dropout": "attention_dropout",
    "activation_dropout": "activation_dropout",
    "dropout_input": "dropout_input",
    "layerdrop": "encoder_layerdrop",
    "mask_length": "mask_length",
    "mask_prob": "mask_prob",
    "mask_channel_length": "mask_channel_length",
    "mask_channel_prob": "mask_channel_prob",
    "mask_channel_before": "mask_channel_before",
    "feature_grad_mult": "feature_grad_mult",
}


def fairseq_sections(path: PathLike, ckpt: Dict[str, Any]) -> Tuple[dict, dict]:
    """(model config, task config) as plain dicts from ``cfg`` or legacy ``args``."""
    cfg = to_plain(ckpt.get("cfg"))
    if isinstance(cfg, dict) and cfg.get("model") is not None:
        return dict(cfg["model"]), dict(cfg.get("task") or {})
    args = to_plain(ckpt.get("args"))
    if isinstance(args, dict):
        return args, args  # legacy: one flat Namespace for model and task
    raise CheckpointError(path, "fairseq checkpoint has neither 'cfg' with a model nor 'args'")


def _arch_name(model_cfg: dict) -> str:
    return str(model_cfg.get("_name") or model_cfg.get("arch") or "")


def fairseq_encoder_config(path: PathLike, ckpt: Dict[str, Any]) -> Tuple[EncoderConfig, str]:
    """Encoder config of a fairseq wav2vec 2.0 checkpoint (pretraining or fine-tuned)."""
    model_cfg, task_cfg = fairseq_sections(path, ckpt)
    arch = _arch_name(model_cfg)
    overrides: Dict[str, Any] = {}
    if arch in FAIRSEQ_FINETUNED_ARCHS:
        w2v = to_plain(model_cfg.get("w2v_args"))
        if not isinstance(w2v, dict):
            raise CheckpointError(
                path,
                f"fine-tuned checkpoint ({arch}) does not embed its pretraining config "
                "(w2v_args is empty); load the pretraining checkpoint it names "
                f"(w2v_path={model_cfg.get('w2v_path')!r}) instead",
            )
        for ft_name, pt_name in FINETUNE_OVERRIDES.items():
            if ft_name in model_cfg:
                overrides[pt_name] = model_cfg[ft_name]
        if not model_cfg.get("apply_mask", True):
            overrides["mask_prob"] = overrides["mask_channel_prob"] = 0.0
        if "model" in w2v:  # hydra-era w2v_args: {"model": ..., "task": ...}
            task_cfg = dict(w2v.get("task") or task_cfg)
            model_cfg = dict(w2v["model"])
        else:  # legacy Namespace
            task_cfg = model_cfg = w2v
        model_cfg = {**model_cfg, **overrides}
        inner = _arch_name(model_cfg)
        if inner and inner not in FAIRSEQ_PRETRAIN_ARCHS:
            raise CheckpointError(path, f"fine-tuned from a {inner!r} model, not wav2vec 2.0")
    elif arch not in FAIRSEQ_PRETRAIN_ARCHS:
        raise CheckpointError(
            path,
            f"fairseq architecture {arch!r} is not wav2vec 2.0 / XLS-R "
            f"(expected one of {FAIRSEQ_PRETRAIN_ARCHS + FAIRSEQ_FINETUNED_ARCHS})",
        )
    if model_cfg.get("layer_type", "transformer") != "transformer":
        raise CheckpointError(path, f"layer_type {model_cfg['layer_type']!r} is not supported")
    if int(model_cfg.get("pos_conv_depth", 1)) != 1:
        raise CheckpointError(path, "pos_conv_depth > 1 (data2vec-style) is not supported")
    g = model_cfg.get
    try:
        config = EncoderConfig(
            extractor_mode=g("extractor_mode") or "default",
            conv_layers=parse_conv_layers(
                g("conv_feature_layers") or "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2"
            ),
            conv_bias=bool(g("conv_bias", False)),
            embed_dim=int(g("encoder_embed_dim", 768)),
            num_layers=int(g("encoder_layers", 12)),
            ffn_dim=int(g("encoder_ffn_embed_dim", 3072)),
            num_heads=int(g("encoder_attention_heads", 12)),
            activation=g("activation_fn") or "gelu",
            conv_pos=int(g("conv_pos", 128)),
            conv_pos_groups=int(g("conv_pos_groups", 16)),
            layer_norm_first=bool(g("layer_norm_first", False)),
            normalize_waveform=bool(task_cfg.get("normalize", False)),
            normalize_eps=1e-5,  # fairseq: F.layer_norm(wav, wav.shape)
            dropout=float(g("dropout", 0.1)),
            attention_dropout=float(g("attention_dropout", 0.1)),
            activation_dropout=float(g("activation_dropout", 0.0)),
            dropout_input=float(g("dropout_input", 0.0)),
            layerdrop=float(g("encoder_layerdrop", 0.0)),
            feature_grad_mult=float(g("feature_grad_mult", 1.0)),
            mask_prob=float(g("mask_prob", 0.65)),
            mask_length=int(g("mask_length", 10)),
            mask_channel_prob=float(g("mask_channel_prob", 0.0)),
            mask_channel_length=int(g("mask_channel_length", 10)),
            mask_channel_before=bool(g("mask_channel_before", False)),
        )
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"invalid wav2vec 2.0 config: {e}") from e
    return config, arch


def load_fairseq(path: PathLike, ckpt: Dict[str, Any]) -> XLSREncoder:
    config, arch = fairseq_encoder_config(path, ckpt)
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise CheckpointError(path, "fairseq checkpoint has no 'model' state dict")
    report = LoadReport(str(path), "fairseq", arch, config)
    mapped = map_state_dict(
        path,
        state,
        FAIRSEQ_KEY_MAP,
        FAIRSEQ_IGNORED,
        ("w2v_encoder.w2v_model.", "encoder.w2v_model."),
        report,
    )
    return build_encoder(path, mapped, report)


# --------------------------------------------------------------------------------------------
# Hugging Face

#: Hugging Face ``Wav2Vec2Config`` defaults, used where config.json leaves a field out.
HF_DEFAULTS: Dict[str, Any] = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout": 0.1,
    "activation_dropout": 0.1, "attention_dropout": 0.1, "feat_proj_dropout": 0.0,
    "layerdrop": 0.1, "layer_norm_eps": 1e-5, "feat_extract_norm": "group",
    "conv_dim": [512] * 7, "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False, "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False, "apply_spec_augment": True, "mask_time_prob": 0.05,
    "mask_time_length": 10, "mask_feature_prob": 0.0, "mask_feature_length": 10,
}  # fmt: skip
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hf_encoder_config(path: Path, cfg: Dict[str, Any]) -> EncoderConfig:
    model_type = cfg.get("model_type")
    if model_type != "wav2vec2":
        raise CheckpointError(
            path / "config.json", f"model_type {model_type!r} is not 'wav2vec2' (XLS-R)"
        )
    if cfg.get("add_adapter"):
        raise CheckpointError(path / "config.json", "add_adapter=True is not supported")
    g = {**HF_DEFAULTS, **cfg}
    spec = g["apply_spec_augment"]
    normalize = True
    pre = path / "preprocessor_config.json"
    if pre.exists():
        normalize = bool(json.loads(pre.read_text()).get("do_normalize", True))
    try:
        return EncoderConfig(
            extractor_mode="layer_norm" if g["feat_extract_norm"] == "layer" else "default",
            conv_layers=list(zip(g["conv_dim"], g["conv_kernel"], g["conv_stride"])),
            conv_bias=bool(g["conv_bias"]),
            embed_dim=int(g["hidden_size"]),
            num_layers=int(g["num_hidden_layers"]),
            ffn_dim=int(g["intermediate_size"]),
            num_heads=int(g["num_attention_heads"]),
            activation=g["hidden_act"],
            conv_pos=int(g["num_conv_pos_embeddings"]),
            conv_pos_groups=int(g["num_conv_pos_embedding_groups"]),
            layer_norm_first=bool(g["do_stable_layer_norm"]),
            layer_norm_eps=float(g["layer_norm_eps"]),
            normalize_waveform=normalize,
            normalize_eps=1e-7,
            dropout=float(g["hidden_dropout"]),
            attention_dropout=float(g["attention_dropout"]),
            activation_dropout=float(g["activation_dropout"]),
            dropout_input=float(g["feat_proj_dropout"]),
            layerdrop=float(g["layerdrop"]),
            mask_prob=float(g["mask_time_prob"]) if spec else 0.0,
            mask_length=int(g["mask_time_length"]),
            mask_channel_prob=float(g["mask_feature_prob"]) if spec else 0.0,
            mask_channel_length=int(g["mask_feature_length"]),
        )
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(path / "config.json", f"invalid Wav2Vec2 config: {e}") from e


def read_safetensors(path: Path) -> Dict[str, Tensor]:
    """Reads a ``.safetensors`` file (8-byte header size, JSON header, raw little-endian data)."""
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "F64": torch.float64, "I64": torch.int64, "I32": torch.int32,
              "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}  # fmt: skip
    data = path.read_bytes()
    try:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
    except (ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(path, f"not a safetensors file ({e})") from e
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        if base + end > len(data):
            raise CheckpointError(path, f"truncated: tensor {name} ends past the file")
        if info["dtype"] not in dtypes:
            raise CheckpointError(path, f"tensor {name} has unsupported dtype {info['dtype']}")
        buf = bytearray(data[base + start : base + end])
        t = torch.frombuffer(buf, dtype=dtypes[info["dtype"]]) if buf else torch.empty(0)
        out[name] = t.reshape(info["shape"])
    return out


def _read_weight_file(path: Path) -> Dict[str, Tensor]:
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    state = _torch_load_checked(path)
    if not isinstance(state, dict):
        raise CheckpointError(path, f"expected a state dict, found {type(state).__name__}")
    return state


def read_hf_weights(path: Path) -> Dict[str, Tensor]:
    """Weights of a HF model directory: single file or sharded (``*.index.json``)."""
    for name in HF_WEIGHT_FILES:
        if (path / name).exists():
            return _read_weight_file(path / name)
        index = path / f"{name}.index.json"
        if index.exists():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: Dict[str, Tensor] = {}
            for shard in shards:
                state.update(_read_weight_file(path / shard))
            return state
    raise CheckpointError(path, f"no weights: expected one of {HF_WEIGHT_FILES} (or sharded)")


def load_huggingface(path: Path) -> XLSREncoder:
    try:
        cfg = json.loads((path / "config.json").read_text())
    except ValueError as e:
        raise CheckpointError(path / "config.json", f"not valid JSON ({e})") from e
    config = hf_encoder_config(path, cfg)
    arch = (cfg.get("architectures") or ["Wav2Vec2Model"])[0]
    report = LoadReport(str(path), "huggingface", arch, config)
    state = read_hf_weights(path)
    mapped = map_state_dict(path, state, HF_KEY_MAP, HF_IGNORED, ("wav2vec2.",), report)
    return build_encoder(path, mapped, report)


# --------------------------------------------------------------------------------------------
# our format and the entry point


def save_encoder(encoder: XLSREncoder, path: PathLike) -> None:
    """Saves config + weights in our format (loadable with :func:`load_encoder`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": OUR_FORMAT,
        "version": 1,
        "config": encoder.cfg.to_dict(),
        "model": encoder.state_dict(),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def load_ours(path: PathLike, ckpt: Dict[str, Any]) -> XLSREncoder:
    try:
        config = EncoderConfig.from_dict(ckpt["config"])
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(path, f"invalid encoder config: {e}") from e
    report = LoadReport(str(path), "xlsr", "XLSREncoder", config)
    state = dict(ckpt["model"])
    report.used = {k: k for k in state}
    return build_encoder(path, state, report)


def _torch_load_checked(path: Path) -> Any:
    try:
        return torch_load(path)
    except Exception as e:  # noqa: BLE001 - any failure here means "not a readable checkpoint"
        raise CheckpointError(
            path, f"not a readable PyTorch checkpoint (truncated or another format?): {e}"
        ) from e


def load_encoder(path: PathLike, **config_overrides: Any) -> XLSREncoder:
    """Loads an XLS-R / wav2vec 2.0 encoder from a checkpoint, without fairseq or transformers.

    Args:
        path: a fairseq checkpoint file (pretraining or fine-tuned, ``cfg`` or legacy
            ``args``), a Hugging Face model directory (``config.json`` plus
            ``model.safetensors`` or ``pytorch_model.bin``) or a file saved by
            :func:`save_encoder`.
        **config_overrides: fine-tuning fields to change after loading (e.g. ``mask_prob``,
            ``layerdrop``, ``checkpoint_activations``); architecture fields are refused.

    Returns:
        XLSREncoder in train mode (call ``.eval()`` for inference), with ``load_report``.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "no such file or directory")
    if path.is_dir():
        if not (path / "config.json").exists():
            raise CheckpointError(path, "directory without config.json (not a HF model dir)")
        encoder = load_huggingface(path)
    else:
        ckpt = _torch_load_checked(path)
        if not isinstance(ckpt, dict):
            raise CheckpointError(path, f"expected a checkpoint dict, found {type(ckpt).__name__}")
        if ckpt.get("format") == OUR_FORMAT:
            encoder = load_ours(path, ckpt)
        elif "model" in ckpt and ("cfg" in ckpt or "args" in ckpt):
            encoder = load_fairseq(path, ckpt)
        else:
            raise CheckpointError(
                path,
                f"not a wav2vec 2.0 checkpoint: top-level keys {sorted(map(str, ckpt))[:8]} "
                "(expected fairseq 'model' + 'cfg'/'args', or our format)",
            )
    if config_overrides:
        apply_overrides(encoder, config_overrides)
    return encoder


ARCH_FIELDS = {
    "extractor_mode", "conv_layers", "conv_bias", "embed_dim", "num_layers", "ffn_dim",
    "num_heads", "activation", "conv_pos", "conv_pos_groups", "layer_norm_first",
}  # fmt: skip


def apply_overrides(encoder: XLSREncoder, overrides: Dict[str, Any]) -> None:
    """Changes fine-tuning fields of a loaded encoder's config in place (dropouts are rebuilt)."""
    bad = sorted(set(overrides) & ARCH_FIELDS)
    if bad:
        raise ValueError(f"cannot override architecture fields of a checkpoint: {bad}")
    cfg = encoder.cfg.replace(**overrides)
    _set_config(encoder, cfg)


def _set_config(encoder: XLSREncoder, cfg: EncoderConfig) -> None:
    encoder.cfg = cfg
    encoder.encoder.cfg = cfg
    encoder.feature_projection.dropout.p = cfg.dropout_input
    encoder.encoder.dropout.p = cfg.dropout
    for layer in encoder.encoder.layers:
        layer.dropout.p = cfg.dropout
        layer.activation_dropout.p = cfg.activation_dropout
        layer.attention.dropout = cfg.attention_dropout
