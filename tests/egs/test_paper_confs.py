"""The benchmark recipes' training confs hold the release note's fine-tuning settings: its
updates per benchmark, finetune.yaml's batch on any GPU count, and with
utils/conf/xlsr_2b.yaml layered over them the 2B settings (FSDP, activation checkpointing,
2.56M samples x 24 per update)."""

import dataclasses

import pytest

from xlsr.data.dataset import DataConfig
from xlsr.tasks.training import EncoderOverrides, apply_global_batch
from xlsr.testing.recipe import ROOT
from xlsr.train.trainer import TrainConfig
from xlsr.utils import config as C

#: recipe conf -> the release note's number of updates (None: the note gives none)
CONFS = {
    "egs/commonvoice/ASR/conf/train_asr_ctc.yaml": 13000,
    "egs/babel/ASR/conf/train_asr_ctc.yaml": 26000,
    "egs/voxpopuli/ASR/conf/train_asr_ctc.yaml": 50000,
    "egs/mls/ASR/conf/train_asr_ctc.yaml": 20000,
    "egs/voxlingua107/LID/conf/train_lid.yaml": None,
    "egs/voxceleb1/SID/conf/train_sid.yaml": None,
}
OVERLAY_2B = ROOT / "utils" / "conf" / "xlsr_2b.yaml"


def _configs(*paths):
    yaml_cfg = C.load_layered_yaml(paths)
    train = C.from_dict(TrainConfig, yaml_cfg.get("train", {}))
    data = C.from_dict(DataConfig, yaml_cfg.get("data", {}))
    encoder = C.from_dict(EncoderOverrides, yaml_cfg.get("encoder", {}))
    return train, data, encoder


@pytest.mark.parametrize("conf", sorted(CONFS))
def test_300m_1b_settings_give_finetune_yamls_batch_on_any_gpu_count(conf):
    # Invariant: 1600 s of audio per update (1.28M samples x 4 GPUs x update_freq 5) in
    # batches of at most 80 s per GPU, whatever the world size; the note's updates.
    train, data, encoder = _configs(ROOT / conf)
    if CONFS[conf] is not None:  # ASR: finetune.yaml's encoder settings, the note's updates
        assert train.max_update == CONFS[conf]
        assert (encoder.mask_prob, encoder.mask_channel_prob) in ((0.75, 0.25), (0.3, 0.25))
        assert encoder.feature_grad_mult == 0.0 and encoder.layerdrop == 0.1
    assert 2e-5 <= train.lr <= 3e-4  # the note's interval for 300M / 1B
    assert (train.global_batch_duration, data.max_duration) == (1600.0, 80.0)
    assert train.freeze_finetune_updates == 10000
    for world, update_freq in ((1, 20), (4, 5), (8, 3), (16, 2), (24, 1)):
        t, d = apply_global_batch(train, data, world)
        assert t.update_freq == update_freq, world
        assert t.update_freq * world * d.max_duration == pytest.approx(1600.0)
        assert d.max_cut_duration <= d.max_duration <= 80.0


@pytest.mark.parametrize("conf", sorted(CONFS))
def test_the_2b_overlay_changes_only_its_keys(conf):
    # Invariant: over any recipe conf, the overlay gives FSDP, activation checkpointing, 160 s
    # per GPU and 3840 s (2.56M samples x 24) per update at an lr in [3e-6, 3e-5]; every
    # other value stays the recipe's.
    base_train, base_data, base_enc = _configs(ROOT / conf)
    train, data, encoder = _configs(ROOT / conf, OVERLAY_2B)
    assert train.distributed == "fsdp" and encoder.checkpoint_activations is True
    assert (train.global_batch_duration, data.max_duration) == (3840.0, 160.0)
    assert 3e-6 <= train.lr <= 3e-5
    assert dataclasses.replace(train, distributed="ddp", global_batch_duration=1600.0,
                               lr=base_train.lr) == base_train  # fmt: skip
    assert dataclasses.replace(data, max_duration=80.0) == base_data
    assert dataclasses.replace(encoder, checkpoint_activations=None) == base_enc
    for world, update_freq, batch in ((8, 3, 160.0), (16, 2, 120.0), (24, 1, 160.0)):
        t, d = apply_global_batch(train, data, world)
        assert (t.update_freq, d.max_duration) == (update_freq, batch), world
