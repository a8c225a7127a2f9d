"""Existing fine-tuned models: a Hugging Face ``Wav2Vec2ForSequenceClassification``
directory as our ClassifierModel.

transformers' head (``modeling_wav2vec2.py``) is ``projector`` per frame, the mean over the
frames of the feature-level attention mask, then ``classifier``, with no activation between
them; so our head with activation "linear":

    HF key                          ours                               shape
    wav2vec2.*                      encoder.* (fairseq_hf's HF key map)
    projector.weight / bias         pooling_layer.linear.weight / bias (classifier_proj_size, D)
    classifier.weight / bias        pooling_layer.projection.*         (num_labels, proj)
    layer_weights                   layer_weights                      (num_layers + 1,)
    config.id2label                 the labels, in id order

``use_weighted_layer_sum`` pools softmax(``layer_weights``) times the num_layers + 1 hidden
states. For ``do_stable_layer_norm`` models transformers 4 gives the last one after the
final LayerNorm and transformers 5 before it; ``layer_sum_final_norm`` follows the version
that wrote config.json (``transformers_version``; 4 when absent), so the logits are those of
the transformers the model was trained with.

HF's pooling, and how ours relates to it:

- with an ``attention_mask``, HF averages over the first ``_get_feat_extract_output_lengths(
  attention_mask.sum(-1))`` frames (``_get_feature_vector_attention_mask``): our ``frames``;
- without one, over every frame of the batch, padding included: the same only for a batch of
  one utterance (or of equal lengths);
- models with ``feat_extract_norm == "group"`` (wav2vec2-base style) run the GroupNorm of the
  first conv layer over the padded length whatever the mask says, so HF's logits for a padded
  utterance depend on its padding; ours equal HF's on the utterance alone.

Inputs: HF expects the feature extractor's output (``do_normalize``: zero mean, unit
variance per utterance, eps 1e-7); our encoder records that from ``preprocessor_config.json``
(``do_normalize``, default True) and normalises raw waveforms inside.

A sequence classifier does not say what it classifies; :func:`xlsr.tasks.load.load_model`
calls it a "lid" model unless told ``task="sid"``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

from xlsr.models.classifier import ClassifierConfig, ClassifierModel
from xlsr.models.fairseq_hf import CheckpointError, copy_head, load_encoder, read_hf_weights

Pathlike = Union[str, Path]
ARCHITECTURE = "Wav2Vec2ForSequenceClassification"
#: HF head key -> ours
HEAD_KEY_MAP = {
    "projector.weight": "pooling_layer.linear.weight",
    "projector.bias": "pooling_layer.linear.bias",
    "classifier.weight": "pooling_layer.projection.weight",
    "classifier.bias": "pooling_layer.projection.bias",
}
#: use_weighted_layer_sum: softmax-weighted sum of the num_hidden_layers + 1 hidden states
LAYER_WEIGHTS = {"layer_weights": "layer_weights"}


def hf_labels(path: Path, cfg: Dict[str, Any]) -> List[str]:
    """``config.id2label`` in id order (ids 0..N-1)."""
    id2label = cfg.get("id2label") or {}
    try:
        by_id = sorted((int(i), str(label)) for i, label in id2label.items())
    except (TypeError, ValueError) as e:
        raise CheckpointError(path / "config.json", f"id2label with non-integer ids ({e})") from e
    if [i for i, _ in by_id] != list(range(len(by_id))) or len(by_id) < 2:
        raise CheckpointError(
            path / "config.json", f"id2label must map ids 0..N-1 (N >= 2), got {id2label}"
        )
    return [label for _, label in by_id]


def transformers_major(cfg: Dict[str, Any]) -> int:
    """The major version of the transformers that wrote config.json (4 when unknown)."""
    version = str(cfg.get("transformers_version") or "4")
    return int(version.split(".")[0]) if version.split(".")[0].isdigit() else 4


def classifier_config(cfg: Dict[str, Any], num_classes: int) -> ClassifierConfig:
    """Our head config for an HF config.json: latent = ``classifier_proj_size``, no activation,
    ``use_weighted_layer_sum`` as ``weighted_layer_sum``, whose last hidden state is after
    the final LayerNorm when transformers 4 wrote the model and before it for 5 (what each
    version's ``output_hidden_states`` gives for ``do_stable_layer_norm``)."""
    weighted = bool(cfg.get("use_weighted_layer_sum", False))
    return ClassifierConfig(
        num_classes=num_classes,
        latent_dim=int(cfg.get("classifier_proj_size", 256)),
        activation="linear",
        weighted_layer_sum=weighted,
        layer_sum_final_norm=transformers_major(cfg) < 5,
    )


def load_hf_classifier(path: Pathlike) -> Tuple[ClassifierModel, List[str]]:
    """A Wav2Vec2ForSequenceClassification directory as our classifier (eval mode).

    Args:
        path: the directory (``config.json`` + ``model.safetensors`` or ``pytorch_model.bin``).

    Returns:
        (model, labels by class id). ``model(waveforms (B, S), lengths (B,))`` gives
        ``(logits (B, num_labels), frames (B,))``, HF's logits for the same inputs.
    """
    path = Path(path)
    encoder = load_encoder(path)
    if encoder.load_report.architecture != ARCHITECTURE:
        raise CheckpointError(
            path, f"{encoder.load_report.architecture} has no sequence classification head"
        )
    cfg = json.loads((path / "config.json").read_text())
    labels = hf_labels(path, cfg)
    head_cfg = classifier_config(cfg, len(labels))
    model = ClassifierModel(encoder, head_cfg)
    key_map = {**HEAD_KEY_MAP, **(LAYER_WEIGHTS if cfg.get("use_weighted_layer_sum") else {})}
    copy_head(model, read_hf_weights(path), key_map, path)
    return model.eval(), labels
