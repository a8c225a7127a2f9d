"""Which weights a decode uses: --iter/--epoch with --avg (checkpoint averaging) and
--use-averaged-model (the mean of the trainer's weight samples between two checkpoints)."""

from types import SimpleNamespace

import pytest
import torch

from xlsr.tasks.asr import compute_asr_loss
from xlsr.tasks.decode_model import model_weights
from xlsr.testing.train import config, make_batches, make_model
from xlsr.train import checkpoint as ckpt
from xlsr.train.trainer import Trainer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """6 updates, a weight sample after each, checkpoints at 2, 4, 6; the samples."""
    tmp = tmp_path_factory.mktemp("exp")
    model = make_model()
    trainer = Trainer(model, config(tmp, max_update=6, save_every_n=2, average_period=1),
                      compute_asr_loss, make_batches(6), None)  # fmt: skip
    samples, original = [], trainer._update_average

    def spy():
        samples.append({k: v.clone() for k, v in model.state_dict().items()})
        original()

    trainer._update_average = spy
    trainer.fit()
    return tmp, samples


def args(exp, **kw):
    base = dict(exp_dir=str(exp), checkpoint="last", epoch=0, iter=0, avg=1,
                use_averaged_model=False)  # fmt: skip
    return SimpleNamespace(**{**base, **kw})


def mean(states):
    return {k: torch.stack([s[k] for s in states]).mean(0) for k in states[0]}


KEY = "output.weight"


def test_use_averaged_model_is_the_mean_of_the_samples_in_the_interval(trained):
    exp, samples = trained
    got = model_weights(args(exp, iter=6, avg=2, use_averaged_model=True))["model"]
    # start checkpoint-2 (2 samples), end checkpoint-6 (6 samples): samples 3..6
    torch.testing.assert_close(got[KEY], mean(samples[2:6])[KEY])
    from_start = model_weights(args(exp, iter=4, avg=2, use_averaged_model=True))["model"]
    torch.testing.assert_close(from_start[KEY], mean(samples[:4])[KEY])  # no earlier start


def test_iter_avg_averages_checkpoints(trained):
    exp, samples = trained
    got = model_weights(args(exp, iter=6, avg=2))["model"]
    torch.testing.assert_close(got[KEY], mean([samples[3], samples[5]])[KEY])
    last = model_weights(args(exp, iter=4))["model"]
    torch.testing.assert_close(last[KEY], samples[3][KEY])
    with pytest.raises(SystemExit, match="no checkpoint-5.pt"):
        model_weights(args(exp, iter=5))
    with pytest.raises(SystemExit, match="--avg 4 needs 4"):
        model_weights(args(exp, iter=6, avg=4))


def test_no_samples_in_the_interval_is_a_clear_error(trained):
    exp, _ = trained
    start = ckpt.load_checkpoint(exp / "checkpoint-6.pt")
    with pytest.raises(ValueError, match="no averaged weights between the checkpoints"):
        ckpt.average_between(start, start)
