"""The trainer on real data loaders: an interrupted run resumes bit-exactly, and a run that
cannot read its audio stops with an error instead of reporting success."""

import logging

import pytest
import torch
from lhotse import CutSet
from lhotse.utils import fastcopy

from xlsr.data.dataset import DataConfig, TokenTargets, make_dataloader
from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.tasks.asr import compute_asr_loss
from xlsr.testing import train as testing_train
from xlsr.testing.checkpoints import random_encoder, tiny_config
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.train import checkpoint as ckpt
from xlsr.train.trainer import Trainer, TrainingDataError

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")
VOCAB = 8


def char_ids(text):
    return [1 + ord(c) % (VOCAB - 1) for c in text[:4]]


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    return make_tiny_cutset(tmp_path_factory.mktemp("audio"), n=12, durations=[0.5, 0.7, 0.9] * 4)


def make_model(seed):
    # dropout and time masking: the global RNG streams must continue exactly after a resume
    cfg = tiny_config(dropout=0.2, mask_prob=0.3, mask_length=2)
    return CtcModel(random_encoder(cfg, seed=seed).train(), CtcConfig(VOCAB, loss="torch"))


def loaders(cuts, workers):
    cfg = DataConfig(
        max_duration=1.6,
        min_cut_duration=0.1,
        max_cut_duration=1.6,
        num_buckets=2,
        num_workers=workers,
        seed=5,
    )
    train, sampler = make_dataloader(cuts, cfg, True, target_fn=TokenTargets(char_ids))
    valid, _ = make_dataloader(cuts.subset(first=3), cfg, False, target_fn=TokenTargets(char_ids))
    return train, sampler, valid


def config(exp_dir, **kw):
    """10 updates, a checkpoint every 4 and a validation every 3 (so they do not coincide)."""
    base = dict(max_update=10, max_epochs=100, save_every_n=4, valid_interval=3)
    return testing_train.config(exp_dir, **{**base, **kw})


def train(cuts, exp_dir, workers, loss_fn=compute_asr_loss, model_seed=2):
    model = make_model(model_seed)
    train_loader, sampler, valid = loaders(cuts, workers)
    Trainer(model, config(exp_dir), loss_fn, train_loader, sampler, valid).fit()
    return model


class Killed(Exception):
    pass


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_after_kill_equals_uninterrupted_run_exactly(cuts, tmp_path, workers):
    # Invariant: a run killed after checkpoint-4 and started again with the same command
    # ends with the very same weights (max abs diff 0) and running average as a run that
    # was never interrupted (validation and several epochs on the way).
    ref = train(cuts, tmp_path / "a", workers)
    calls = {"n": 0}

    def dies_in_update_6(model, batch):
        if model.training:
            calls["n"] += 1
            if calls["n"] == 6:
                raise Killed()
        return compute_asr_loss(model, batch)

    with pytest.raises(Killed):
        train(cuts, tmp_path / "b", workers, dies_in_update_6)
    assert ckpt.latest_checkpoint(tmp_path / "b").name == "checkpoint-4.pt"
    torch.manual_seed(1234)  # the new process's RNG is anything: all must come from the checkpoint
    resumed = train(cuts, tmp_path / "b", workers, model_seed=7)
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), f"{name}: max abs diff {float((a - b).abs().max())}"
    avg_a, avg_b = (ckpt.load_checkpoint(tmp_path / d / "averaged.pt")["model"] for d in "ab")
    assert all(torch.equal(avg_a[k], avg_b[k]) for k in avg_a)


def moved(cuts, ids, where="/nonexistent/corpus"):
    """``cuts`` with the audio of ``ids`` pointing into a folder that does not exist."""
    out = []
    for c in cuts:
        if c.id in ids:
            src = fastcopy(c.recording.sources[0], source=f"{where}/{c.id}.wav")
            c = fastcopy(c, recording=fastcopy(c.recording, sources=[src]))
        out.append(c)
    return CutSet.from_cuts(out)


def test_training_on_unreadable_audio_stops_with_an_error(cuts, tmp_path):
    # Invariant: a manifest whose audio is gone does not train to "training done" with
    # loss 0: after max_skipped_updates empty updates training stops, naming the count, the
    # reason and the first files; no final checkpoint claims the run finished.
    gone = moved(cuts, set(cuts.ids))
    with pytest.raises(TrainingDataError) as err:
        train(gone, tmp_path, 0)
    msg = str(err.value)
    assert "4 updates in a row" in msg and "unreadable_audio=" in msg
    assert "/nonexistent/corpus/utt-00" in msg and "validate_data" in msg
    assert not list(tmp_path.glob("checkpoint-*.pt"))


def test_epoch_skipping_too_many_utterances_stops(cuts, tmp_path):
    # Invariant: 4 of 12 cuts unreadable (33 % > max_skipped_fraction 20 %) stops training
    # at the end of the first epoch, with the fraction and the reason in the message.
    bad = moved(cuts, set(list(cuts.ids)[:4]))
    with pytest.raises(TrainingDataError, match=r"epoch 1: 4 of 12 utterances skipped \(33.3 %"):
        train(bad, tmp_path, 0)


def test_a_few_skips_are_counted_in_the_log(cuts, tmp_path, caplog):
    # Invariant: 1 of 12 cuts unreadable (8 %) trains on, and the log lines count the skip.
    bad = moved(cuts, {next(iter(cuts.ids))})
    with caplog.at_level(logging.INFO, logger="xlsr.train.trainer"):
        train(bad, tmp_path, 0)
    lines = [r.getMessage() for r in caplog.records if " update " in r.getMessage()]
    assert any("skipped 1 " in m for m in lines) and "training done" in caplog.text
