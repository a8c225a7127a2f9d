"""Existing speech translation models: a fairseq ``xm_transformer`` checkpoint as our StModel.

fairseq's ``XMTransformerModel`` is ``Wav2VecEncoderWithAdaptor`` (the wav2vec 2.0 encoder
``encoder.w2v_encoder.w2v_model.*``, read by :func:`xlsr.models.fairseq_hf.load_fairseq`;
``encoder.w2v_encoder.proj`` to the decoder width when ``encoder_proj``;
``encoder.w2v_proj_ln``; ``encoder.adaptor.layers.N`` Conv1d + GLU) and an mBART
``TransformerDecoder`` (``decoder.*``), mapped by :data:`xlsr.models.st.FAIRSEQ_ST_KEYS`.
Its config (``cfg['model']`` or legacy ``args``) gives the shapes:

    fairseq field                                  ours / requirement
    adaptor_n_layers, adaptor_kernel_size,         adaptor_layers, adaptor_kernel,
      adaptor_stride                                 adaptor_stride
    adaptor_layernorm, adaptor_proj                must be False (our adaptor has neither)
    decoder_embed_dim, decoder_layers, ...         decoder_* (StConfig)
    max_target_positions                           max_target_positions
    decoder_normalize_before, layernorm_embedding  must be True (mBART)
    no_scale_embedding                             must be False
    share_decoder_input_output_embed               tied (output_projection = embed_tokens)
    decoder activation_fn                          gelu

The width of the projection and whether it has a LayerNorm come from the weights present
(``encoder.w2v_encoder.proj.*``, ``encoder.w2v_proj_ln.*``). Token ids are fairseq's
dictionary's (bos 0, pad 1, eos 2, as ours); the target dictionary (``dict.txt`` / the
mBART-50 ``spm`` files of the task's data) is not in the checkpoint. Without padding our
adaptor equals fairseq's; for padded batches ours zeroes padded frames before every layer,
fairseq once before the first (see :mod:`xlsr.models.adaptor`).

Normalisation: the encoder normalises the waveform when the embedded pretraining task says
``normalize`` (as for ``wav2vec_ctc``). fairseq's speech-to-text data side decides it with
``standardize_audio`` in the data's ``config.yaml``, which the checkpoint does not hold; a
model trained with another setting needs
``fairseq_hf.apply_overrides(model.encoder, {"normalize_waveform": ...})``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Union

from torch import Tensor

from xlsr.models.fairseq_hf import (
    CheckpointError,
    fairseq_sections,
    load_fairseq,
    load_mapped_head,
)
from xlsr.models.st import FAIRSEQ_ST_KEYS, StConfig, StModel, map_state_dict

Pathlike = Union[str, Path]
ST_ARCHS = ("xm_transformer",)
W2V_PREFIX = "encoder.w2v_encoder.w2v_model."
#: fairseq fields that must have these values for our model to compute the same thing
REQUIRED = {
    "adaptor_layernorm": False,
    "adaptor_proj": False,
    "decoder_normalize_before": True,
    "layernorm_embedding": True,
    "no_scale_embedding": False,
}


def st_config(path: Pathlike, cfg: Dict[str, Any], state: Dict[str, Tensor]) -> StConfig:
    """Our StConfig for an xm_transformer model config and its weights."""
    wrong = {k: cfg.get(k) for k, v in REQUIRED.items() if bool(cfg.get(k, v)) != v}
    if cfg.get("activation_fn", "gelu") != "gelu":
        wrong["activation_fn"] = cfg.get("activation_fn")
    if wrong:
        raise CheckpointError(path, f"xm_transformer options we cannot compute: {wrong}")
    embed = state.get("decoder.embed_tokens.weight")
    if embed is None:
        raise CheckpointError(path, "decoder.embed_tokens.weight missing")
    d = int(embed.shape[1])
    try:
        return StConfig(
            vocab_size=int(embed.shape[0]),
            decoder_embed_dim=d,
            decoder_layers=int(cfg.get("decoder_layers", 12)),
            decoder_attention_heads=int(cfg.get("decoder_attention_heads", 16)),
            decoder_ffn_embed_dim=int(cfg.get("decoder_ffn_embed_dim", 4 * d)),
            max_target_positions=int(cfg.get("max_target_positions", 1024)),
            dropout=float(cfg.get("decoder_dropout", cfg.get("dropout", 0.1))),
            attention_dropout=float(cfg.get("decoder_attention_dropout", 0.0)),
            activation_dropout=float(cfg.get("decoder_activation_dropout", 0.0)),
            adaptor_layers=int(cfg.get("adaptor_n_layers", 3)),
            adaptor_kernel=int(cfg.get("adaptor_kernel_size", 3)),
            adaptor_stride=int(cfg.get("adaptor_stride", 2)),
            encoder_proj="encoder.w2v_encoder.proj.weight" in state,
            encoder_proj_layer_norm="encoder.w2v_proj_ln.weight" in state,
        )
    except (TypeError, ValueError) as e:
        raise CheckpointError(path, f"invalid xm_transformer config: {e}") from e


def copy_st_head(path: Pathlike, model: StModel, state: Dict[str, Tensor]) -> None:
    """Loads projection, adaptor and decoder weights by FAIRSEQ_ST_KEYS, all of them."""
    mapped = map_state_dict(state, FAIRSEQ_ST_KEYS)
    out = state.get("decoder.output_projection.weight")
    tied = {"output_projection": (out, "decoder.embed_tokens.weight")}
    load_mapped_head(model, mapped, path, tied)


def load_fairseq_st(path: Pathlike, ckpt: Dict[str, Any]) -> StModel:
    """A fairseq ``xm_transformer`` checkpoint (already read into ``ckpt``) as our StModel.

    Args:
        path: the checkpoint file (for messages).
        ckpt: its contents (``xlsr.models.safe_pickle.torch_load``); the pretraining config
            must be embedded (``w2v_args``), as fairseq stores it after building the model.

    Returns:
        The model in eval mode; decode with the prefix ``</s> <lang tag>`` (fairseq's
        ``prefix_size`` 1 on ``prev_output_tokens`` starting with eos).
    """
    model_cfg, task_cfg = fairseq_sections(path, ckpt)
    arch = str(model_cfg.get("_name") or model_cfg.get("arch") or "")
    if arch not in ST_ARCHS:
        raise CheckpointError(path, f"fairseq architecture {arch!r} is not {ST_ARCHS}")
    state = ckpt.get("model")
    if not isinstance(state, dict):
        raise CheckpointError(path, "fairseq checkpoint has no 'model' state dict")
    head_cfg = st_config(path, model_cfg, state)
    # the encoder as a fine-tuned wav2vec 2.0 checkpoint: load_fairseq's config and key map
    encoder_ckpt = {
        "cfg": {"model": {**model_cfg, "_name": "wav2vec_seq2seq"}, "task": task_cfg},
        "model": {k[len("encoder.") :]: v for k, v in state.items() if k.startswith(W2V_PREFIX)},
    }
    model = StModel(load_fairseq(path, encoder_ckpt), head_cfg)
    model.encoder.load_report.architecture = arch  # type: ignore[attr-defined]
    copy_st_head(path, model, state)
    return model.eval()
