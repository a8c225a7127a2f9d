"""Existing speech translation models: a Hugging Face ``SpeechEncoderDecoderModel`` directory
(wav2vec2 encoder with ``add_adapter=True`` + ``MBartForCausalLM`` decoder, the layout of
``facebook/wav2vec2-xls-r-*-en-to-15`` and friends) as our :class:`StModel`.

HF's chain and ours (``modeling_wav2vec2.Wav2Vec2Adapter``, ``modeling_speech_encoder_decoder``):

    HF                                            ours
    encoder.* (Wav2Vec2Model)                     encoder.* (fairseq_hf's HF key map)
    encoder.adapter.proj, proj_layer_norm         encoder_proj, encoder_proj_ln
      (only when output_hidden_size != hidden_size; then both)
    encoder.adapter.layers.N.conv                 adaptor.layers.N (Conv1d + GLU, same shapes)
    enc_to_dec_proj (encoder width != d_model)    encoder_proj without LayerNorm, and only
                                                  without an adapter (see below)
    decoder.model.decoder.*                       decoder.* (st.HF_DECODER_KEYS)
    decoder.lm_head.weight                        tied to decoder.embed_tokens (must be equal)

Where the two differ:

- HF's adapter convolutions pad by 1 whatever ``adapter_kernel_size`` is; ours pad by
  ``kernel // 2``. They agree for kernel 3 (HF's default and every released model); other
  kernels are refused.
- HF's adapter does not look at padding: a padded frame enters the convolution window of the
  last real frames, so HF's memory for an utterance in a padded batch depends on its padding.
  Ours zeroes padded frames before every layer (``Conv1dAdaptor``): our output for a padded
  batch equals HF's for each utterance alone. Without padding (a batch of one) they agree.
- Lengths: HF's encoder attention mask for the decoder keeps ``floor((L - 1) / stride) + 1``
  frames per adapter layer (``_get_feat_extract_output_lengths(add_adapter=True)``), our
  ``adaptor_output_lengths``: the same.
- HF's adapter has LayerDrop (the encoder's ``layerdrop``) in training; ours has none. Eval
  is the same.
- ``enc_to_dec_proj`` after an adapter (``output_hidden_size != d_model``) is a Linear after
  the GLU convolutions; our chain has nothing there: refused.

Token ids must be ours (fairseq's dictionary: ``bos 0``, ``pad 1``, ``eos 2``) and decoding
starts with ``eos`` (``decoder_start_token_id == 2``) followed by the target language tag
(``forced_bos_token_id``, in :class:`HfStInfo`); other ids are refused, not remapped. The
vocabulary is the directory's tokenizer (``sentencepiece.bpe.model`` / ``tokenizer.json``
...), whose file names :class:`HfStInfo` lists; the tiny test directories have none.

Search (``xlsr.decode.st_search`` with prefix ``</s> <tag>``) against HF ``generate`` with
``forced_bos_token_id=tag``: greedy output is the same when ``max_len_b = max_new_tokens - 2``,
``min_len=0`` and HF suppresses pad (``suppress_tokens=[1]``; we never generate pad). Beam
search differs in its scores: HF divides the summed log-probability by the generated length
counting the forced tag (``n + 2`` for ``n`` tokens and eos), fairseq and we by ``n + 1``; HF's
forced eos at max length scores 0, ours the model's ``log p(eos)`` (fairseq); HF's stopping
rule (``early_stopping=False``: a heuristic bound) is not fairseq's (``beam`` finished
hypotheses). With ``length_penalty=0`` and hypotheses ending before max length the n-best
lists agree.

Inputs: HF expects the feature extractor's output (``do_normalize`` in
``preprocessor_config.json``, default True); our encoder records that flag and normalises raw
waveforms inside (contract 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from torch import Tensor

from xlsr.models.fairseq_hf import (
    HF_IGNORED,
    HF_KEY_MAP,
    CheckpointError,
    LoadReport,
    build_encoder,
    hf_encoder_config,
    load_mapped_head,
    map_state_dict,
    read_hf_weights,
)
from xlsr.models.st import HF_DECODER_KEYS, StConfig, StModel
from xlsr.models.st import map_state_dict as map_head_keys

Pathlike = Union[str, Path]
ARCHITECTURE = "SpeechEncoderDecoderModel"
MODEL_TYPE = "speech-encoder-decoder"  # config.json model_type (a config without architectures)
#: our token ids (fairseq dictionary): HF config field -> required value
OUR_IDS = {"bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 2}
TOKENIZER_FILES = ("sentencepiece.bpe.model", "tokenizer.json", "tokenizer_config.json",
                   "vocab.json", "special_tokens_map.json", "added_tokens.json")  # fmt: skip

#: HF adapter key -> ours (``{n}`` layers, ``{p}`` weight/bias)
HF_ADAPTER_KEYS: Dict[str, Optional[str]] = {
    "encoder.adapter.proj.{p}": "encoder_proj.{p}",
    "encoder.adapter.proj_layer_norm.{p}": "encoder_proj_ln.{p}",
    "encoder.adapter.layers.{n}.conv.{p}": "adaptor.layers.{n}.{p}",
}
#: HF's projection between encoder and decoder (no adapter) -> ours
HF_BRIDGE_KEYS: Dict[str, Optional[str]] = {"enc_to_dec_proj.{p}": "encoder_proj.{p}"}
#: SpeechEncoderDecoderModel's decoder keys (MBartForCausalLM under ``decoder.``) -> ours
HF_ST_DECODER_KEYS = {f"decoder.{k}": v for k, v in HF_DECODER_KEYS.items()}


@dataclass
class HfStInfo:
    """What :func:`load_hf_st` found besides the weights.

    Attributes:
        decoder_start_token_id: the first decoder input (our ``eos``, 2).
        forced_bos_token_id: the target language tag HF forces after it (None when unset).
        tokenizer_files: the tokenizer files of the directory (empty for test directories).
        encoder_report: the encoder's key report.
        generation: the generation settings read (config.json, then generation_config.json).
    """

    decoder_start_token_id: int
    forced_bos_token_id: Optional[int]
    tokenizer_files: List[str]
    encoder_report: LoadReport
    generation: Dict[str, Any] = field(default_factory=dict)


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(path, f"not readable JSON ({e})") from e


def generation_settings(path: Path, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Token-id fields of config.json, overridden by generation_config.json where present."""
    keys = (*OUR_IDS, "forced_bos_token_id")
    out = {k: cfg.get(k) for k in keys if cfg.get(k) is not None}
    gen_file = path / "generation_config.json"
    if gen_file.exists():
        gen = _read_json(gen_file)
        out.update({k: gen[k] for k in keys if gen.get(k) is not None})
    return out


def check_token_ids(path: Path, gen: Dict[str, Any]) -> None:
    """Refuses ids other than ours (bos 0, pad 1, eos 2, decoding starts with eos)."""
    wrong = {k: gen[k] for k, ours in OUR_IDS.items() if k in gen and gen[k] != ours}
    if wrong:
        raise CheckpointError(
            path,
            f"token ids {wrong} differ from ours (bos 0, pad 1, eos 2, decoder start = eos): "
            "not supported (no remapping)",
        )


def st_config(path: Path, enc: Dict[str, Any], dec: Dict[str, Any]) -> StConfig:
    """Our StConfig for the encoder and decoder sub-configs; refuses what does not map."""
    where = path / "config.json"
    if dec.get("model_type") != "mbart":
        raise CheckpointError(where, f"decoder model_type {dec.get('model_type')!r} is not mbart")
    if not dec.get("scale_embedding", False) or dec.get("activation_function", "gelu") != "gelu":
        raise CheckpointError(where, "the decoder needs scale_embedding=True and gelu (mBART)")
    if dec.get("cross_attention_hidden_size") is not None:
        raise CheckpointError(where, "cross_attention_hidden_size is not supported")
    d, width = int(dec["d_model"]), int(enc["hidden_size"])
    adapter = bool(enc.get("add_adapter", False))
    out_width = int(enc.get("output_hidden_size") or width) if adapter else width
    if adapter and out_width != d:
        raise CheckpointError(
            where, f"enc_to_dec_proj after the adapter ({out_width} -> {d}) has no equivalent"
        )
    if adapter and int(enc.get("adapter_kernel_size", 3)) != 3:
        raise CheckpointError(where, "adapter_kernel_size != 3: HF pads by 1, we by kernel // 2")
    return StConfig(
        vocab_size=int(dec["vocab_size"]),
        decoder_embed_dim=d,
        decoder_layers=int(dec["decoder_layers"]),
        decoder_attention_heads=int(dec["decoder_attention_heads"]),
        decoder_ffn_embed_dim=int(dec["decoder_ffn_dim"]),
        max_target_positions=int(dec["max_position_embeddings"]),
        dropout=float(dec.get("dropout", 0.1)),
        attention_dropout=float(dec.get("attention_dropout", 0.0)),
        activation_dropout=float(dec.get("activation_dropout", 0.0)),
        adaptor_layers=int(enc.get("num_adapter_layers", 3)) if adapter else 0,
        adaptor_kernel=3,
        adaptor_stride=int(enc.get("adapter_stride", 2)),
        encoder_proj=width != d,  # adapter.proj (out_width == d) or enc_to_dec_proj
        encoder_proj_layer_norm=adapter and out_width != width,
    )


def copy_st_head(path: Path, model: StModel, state: Dict[str, Tensor]) -> None:
    """Loads projection, adaptor and decoder weights; every one must be there, shaped right."""
    mapped = map_head_keys(state, {**HF_ADAPTER_KEYS, **HF_BRIDGE_KEYS, **HF_ST_DECODER_KEYS})
    tied = {"lm_head": (state.get("decoder.lm_head.weight"), "decoder.embed_tokens.weight")}
    load_mapped_head(model, mapped, path, tied)


def load_hf_st(path: Pathlike) -> Tuple[StModel, HfStInfo]:
    """A SpeechEncoderDecoderModel directory (wav2vec2 + MBartForCausalLM) as our StModel.

    Args:
        path: the directory (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``,
            optionally ``generation_config.json``, ``preprocessor_config.json``, a tokenizer).

    Returns:
        (model in eval mode, :class:`HfStInfo`). ``model.encode_for_decoder(waveforms (B, S),
        lengths (B,))`` then ``model.decoder_logits(memory, memory_lengths, tokens (B, U))``
        give HF's ``model(input_values, decoder_input_ids=tokens).logits`` (B, U, V).
    """
    path = Path(path)
    cfg = _read_json(path / "config.json")
    arch = (cfg.get("architectures") or [None])[0]
    if arch != ARCHITECTURE and not (arch is None and cfg.get("model_type") == MODEL_TYPE):
        raise CheckpointError(path / "config.json", f"architecture {arch!r} is not {ARCHITECTURE}")
    enc, dec = cfg.get("encoder") or {}, cfg.get("decoder") or {}
    head_cfg = st_config(path, enc, dec)
    gen = generation_settings(path, cfg)
    check_token_ids(path, gen)
    enc_cfg = hf_encoder_config(path, {k: v for k, v in enc.items() if k != "add_adapter"})
    report = LoadReport(str(path), "huggingface", ARCHITECTURE, enc_cfg)
    state = read_hf_weights(path)
    encoder_state = {k: v for k, v in state.items() if k.startswith("encoder.")}
    ignored = (*HF_IGNORED, "adapter.")
    mapped = map_state_dict(path, encoder_state, HF_KEY_MAP, ignored, ("encoder.",), report)
    model = StModel(build_encoder(path, mapped, report), head_cfg)
    copy_st_head(path, model, state)
    info = HfStInfo(
        decoder_start_token_id=int(gen.get("decoder_start_token_id", 2)),
        forced_bos_token_id=gen.get("forced_bos_token_id"),
        tokenizer_files=[name for name in TOKENIZER_FILES if (path / name).exists()],
        encoder_report=report,
        generation=gen,
    )
    return model.eval(), info
