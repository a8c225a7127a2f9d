"""Configuration of the XLS-R / wav2vec 2.0 encoder and its presets.

Every field names the fairseq option it corresponds to (``Wav2Vec2Config`` in
``fairseq/models/wav2vec/wav2vec2.py``) and, where it differs, the Hugging Face
``Wav2Vec2Config`` attribute. Checkpoint import fills the fields from the
checkpoint itself; the defaults here are XLS-R's, not fairseq's (fairseq defaults
to the base model: group norm, post-LayerNorm, no conv bias).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List

# ConvLayer is (channels, kernel, stride); DEFAULT_CONV_LAYERS is fairseq's
# conv_feature_layers default. Both live in the data layer, which counts frames too.
from xlsr.data.frames import DEFAULT_CONV_LAYERS, ConvLayer


@dataclass
class EncoderConfig:
    """Architecture and fine-tuning behaviour of the encoder."""

    # --- architecture -------------------------------------------------------------------
    # fairseq extractor_mode: "layer_norm" (XLS-R: LayerNorm after every conv) or
    # "default" (wav2vec 2.0 base: GroupNorm after the first conv only). HF feat_extract_norm.
    extractor_mode: str = "layer_norm"
    # fairseq conv_feature_layers: (channels, kernel, stride) per conv. HF conv_dim/kernel/stride.
    conv_layers: List[ConvLayer] = field(default_factory=lambda: list(DEFAULT_CONV_LAYERS))
    conv_bias: bool = True  # fairseq conv_bias, HF conv_bias
    embed_dim: int = 1024  # fairseq encoder_embed_dim, HF hidden_size
    num_layers: int = 24  # fairseq encoder_layers, HF num_hidden_layers
    ffn_dim: int = 4096  # fairseq encoder_ffn_embed_dim, HF intermediate_size
    num_heads: int = 16  # fairseq encoder_attention_heads, HF num_attention_heads
    activation: str = "gelu"  # fairseq activation_fn, HF hidden_act ("gelu" or "relu")
    conv_pos: int = 128  # fairseq conv_pos, HF num_conv_pos_embeddings
    conv_pos_groups: int = 16  # fairseq conv_pos_groups, HF num_conv_pos_embedding_groups
    layer_norm_first: bool = True  # fairseq layer_norm_first, HF do_stable_layer_norm
    layer_norm_eps: float = 1e-5  # HF layer_norm_eps (fairseq uses torch's default 1e-5)

    # --- input normalisation ----------------------------------------------------------------
    # fairseq task.normalize / HF feature extractor do_normalize: zero mean, unit variance per
    # utterance over its real samples. Done inside the encoder, so nobody can forget it.
    normalize_waveform: bool = True
    normalize_eps: float = 1e-7  # HF uses 1e-7 inside the sqrt; fairseq's F.layer_norm uses 1e-5

    # --- regularisation (fine-tuning) ----------------------------------------------------------
    dropout: float = 0.0  # fairseq dropout (residual dropout), HF hidden_dropout
    attention_dropout: float = 0.0  # fairseq attention_dropout, HF attention_dropout
    activation_dropout: float = 0.0  # fairseq activation_dropout, HF activation_dropout
    dropout_input: float = 0.0  # fairseq dropout_input (after projection), HF feat_proj_dropout
    layerdrop: float = 0.0  # fairseq encoder_layerdrop / layerdrop, HF layerdrop
    # Seed of the LayerDrop generator. Every rank draws the same layers to drop at each step,
    # so DDP replicas stay identical and a 2-process run equals a 1-process run.
    layerdrop_seed: int = 0
    feature_grad_mult: float = 1.0  # fairseq feature_grad_mult: 0 freezes the feature encoder

    # --- masking (SpecAugment-like, on the projected features) ----------------------------------
    mask_prob: float = 0.0  # fairseq mask_prob, HF mask_time_prob
    mask_length: int = 10  # fairseq mask_length, HF mask_time_length
    mask_channel_prob: float = 0.0  # fairseq mask_channel_prob, HF mask_feature_prob
    mask_channel_length: int = 10  # fairseq mask_channel_length, HF mask_feature_length
    # fairseq mask_channel_before: apply channel masking before time masking.
    mask_channel_before: bool = False

    # --- memory ----------------------------------------------------------------------------
    # fairseq activation_checkpoint / checkpoint_activations: recompute each Transformer layer
    # in the backward pass.
    checkpoint_activations: bool = False

    def __post_init__(self) -> None:
        self.conv_layers = [tuple(int(v) for v in layer) for layer in self.conv_layers]
        if self.extractor_mode not in ("layer_norm", "default"):
            raise ValueError(
                f"extractor_mode must be 'layer_norm' or 'default', got {self.extractor_mode!r}"
            )
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {self.activation!r}")
        if self.embed_dim % self.conv_pos_groups:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by conv_pos_groups "
                f"({self.conv_pos_groups})"
            )
        for name in ("dropout", "attention_dropout", "activation_dropout", "dropout_input"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 <= self.layerdrop <= 1.0:
            raise ValueError(f"layerdrop must be in [0, 1], got {self.layerdrop}")

    @property
    def feature_dim(self) -> int:
        """Channels of the last conv layer (512 for every released model)."""
        return self.conv_layers[-1][0]

    @property
    def samples_per_frame(self) -> int:
        """The product of the conv strides: samples per output frame (320, 20 ms at 16 kHz)."""
        stride = 1
        for _, _, s in self.conv_layers:
            stride *= int(s)
        return stride

    @property
    def receptive_field(self) -> int:
        """Samples one output frame sees; an utterance shorter than this has no frame (400)."""
        field_, jump = 1, 1
        for _, kernel, stride in self.conv_layers:
            field_ += (kernel - 1) * jump
            jump *= stride
        return field_

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d["conv_layers"] = [list(layer) for layer in self.conv_layers]
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> EncoderConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown encoder config fields: {unknown}")
        return cls(**d)

    def replace(self, **changes: Any) -> EncoderConfig:
        return dataclasses.replace(self, **changes)


def xlsr_300m(**overrides: Any) -> EncoderConfig:
    """XLS-R 300M (``xlsr2_300m.pt``): 24 layers x 1024, FFN 4096, 16 heads."""
    return EncoderConfig(**{"embed_dim": 1024, "num_layers": 24, "ffn_dim": 4096, **overrides})


def xlsr_1b(**overrides: Any) -> EncoderConfig:
    """XLS-R 1B (``xlsr2_960m_1000k.pt``): 48 layers x 1280, FFN 5120, 16 heads."""
    return EncoderConfig(**{"embed_dim": 1280, "num_layers": 48, "ffn_dim": 5120, **overrides})


def xlsr_2b(**overrides: Any) -> EncoderConfig:
    """XLS-R 2B (``xlsr2_2B_1000k.pt``): 48 layers x 1920, FFN 7680, 16 heads."""
    return EncoderConfig(**{"embed_dim": 1920, "num_layers": 48, "ffn_dim": 7680, **overrides})


def wav2vec2_base(**overrides: Any) -> EncoderConfig:
    """wav2vec 2.0 base: group-norm extractor, no conv bias, post-LayerNorm, 12 x 768."""
    base = dict(
        extractor_mode="default",
        conv_bias=False,
        embed_dim=768,
        num_layers=12,
        ffn_dim=3072,
        num_heads=12,
        layer_norm_first=False,
        normalize_waveform=False,
    )
    return EncoderConfig(**{**base, **overrides})


def xlsr_tiny(**overrides: Any) -> EncoderConfig:
    """A tiny XLS-R-shaped encoder for tests and the CPU recipes (about 0.5M parameters).

    Same structure as ``xlsr_300m`` (layer-norm extractor with bias, pre-LayerNorm), with
    narrow convolutions (the same kernels and strides: 20 ms frames at 16 kHz) and 2 layers.
    """
    conv = [(64, 10, 5)] + [(64, 3, 2)] * 4 + [(64, 2, 2)] * 2
    base = dict(
        conv_layers=conv,
        embed_dim=64,
        num_layers=2,
        ffn_dim=128,
        num_heads=4,
        conv_pos=16,
        conv_pos_groups=4,
    )
    return EncoderConfig(**{**base, **overrides})


def xlsr_mini(**overrides: Any) -> EncoderConfig:
    """A small XLS-R-shaped encoder for the CPU recipes (about 0.95M parameters): 32-channel
    convolutions (XLS-R's kernels and strides) and a 4-layer x 128 pre-LN Transformer. About
    1.2 s per forward+backward of 60 s of audio on 2 CPU cores."""
    conv = [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2
    base = dict(conv_layers=conv, embed_dim=128, num_layers=4, ffn_dim=512, num_heads=4,
                conv_pos=32, conv_pos_groups=8)  # fmt: skip
    return xlsr_tiny(**{**base, **overrides})


PRESETS = {
    "xlsr_300m": xlsr_300m,
    "xlsr_1b": xlsr_1b,
    "xlsr_2b": xlsr_2b,
    "wav2vec2_base": wav2vec2_base,
    "xlsr_tiny": xlsr_tiny,
    "xlsr_mini": xlsr_mini,
}


def preset(name: str, **overrides: Any) -> EncoderConfig:
    """Returns the config of a preset by name (one of ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown encoder preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name](**overrides)
