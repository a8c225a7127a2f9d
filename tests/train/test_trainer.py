"""The trainer: schedule, learning, kill-and-resume, averaging, non-finite losses, DDP."""

import math

import pytest
import torch
import torch.distributed as dist

from xlsr.models.ctc import CtcConfig, CtcModel
from xlsr.tasks.asr import compute_asr_loss
from xlsr.testing.checkpoints import random_encoder, tiny_config
from xlsr.testing.train import (
    VOCAB,
    assert_ranks_equal_single,
    config,
    make_batches,
    make_model,
    rank_env,
    spawn_two,
)
from xlsr.train import checkpoint as ckpt
from xlsr.train.schedule import TriStageSchedule
from xlsr.train.trainer import Trainer


def test_tri_stage_schedule():
    s = TriStageSchedule(1.0, 100, (0.1, 0.4, 0.5), init_lr_scale=0.01, final_lr_scale=0.05)
    assert s(0) == pytest.approx(0.01) and s(10) == pytest.approx(1.0) and s(49) == 1.0
    assert s(50) == 1.0 and s(100) == pytest.approx(0.05) and s(1000) == pytest.approx(0.05)
    assert s(75) == pytest.approx(math.sqrt(0.05), rel=1e-3)  # halfway through the decay


def test_training_lowers_the_loss(tmp_path):
    batches = make_batches(2)
    model = make_model()

    def loss_on(b):
        model.eval()
        with torch.no_grad():
            return float(compute_asr_loss(model, b)[0])

    before = sum(loss_on(b) for b in batches)
    Trainer(
        model, config(tmp_path, max_update=40, lr=3e-3), compute_asr_loss, batches * 20, None
    ).fit()
    assert sum(loss_on(b) for b in batches) < 0.5 * before
    assert (tmp_path / "averaged.pt").exists() and (tmp_path / "checkpoint-40.pt").exists()


class Crash(Exception):
    pass


def test_kill_and_resume_equals_uninterrupted_run(tmp_path):
    batches = make_batches(8, seed=3)
    kw = dict(max_update=8, save_every_n=4)
    ref = make_model(seed=2)
    Trainer(ref, config(tmp_path / "a", **kw), compute_asr_loss, batches, None).fit()

    calls = {"n": 0}

    def crashing(model, batch):  # dies in the 6th update, after checkpoint-4
        calls["n"] += 1
        if calls["n"] == 6:
            raise Crash()
        return compute_asr_loss(model, batch)

    with pytest.raises(Crash):
        Trainer(make_model(seed=2), config(tmp_path / "b", **kw), crashing, batches, None).fit()
    assert ckpt.latest_checkpoint(tmp_path / "b").name == "checkpoint-4.pt"

    class ResumingLoader:  # a real sampler restores its position; here we skip consumed batches
        def __iter__(self):
            return iter(batches[4:])

    resumed = make_model(seed=7)  # different init: everything must come from the checkpoint
    Trainer(resumed, config(tmp_path / "b", **kw), compute_asr_loss, ResumingLoader(), None).fit()
    for (name, a), b in zip(ref.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def test_checkpoint_averaging(tmp_path):
    states = [{"w": torch.full((2,), float(i)), "n": torch.tensor(i)} for i in range(4)]
    for i, s in enumerate(states):
        ckpt.save_atomic({"model": s}, tmp_path / f"epoch-{i + 1}.pt")
    avg = ckpt.average_checkpoints([tmp_path / f"epoch-{i}.pt" for i in (2, 3, 4)])
    torch.testing.assert_close(avg["w"], torch.full((2,), 2.0))
    assert int(avg["n"]) == 3  # integer buffers come from the newest
    ckpt.save_atomic({"model": {}}, tmp_path / "checkpoint-5.pt")
    ckpt.remove_old(tmp_path, keep_last=1, prefix="epoch")
    assert [p.name for p in ckpt.list_checkpoints(tmp_path, "epoch")] == ["epoch-4.pt"]


def test_running_average_is_the_mean_of_sampled_weights(tmp_path):
    model = make_model()
    snapshots = []
    trainer = Trainer(
        model,
        config(tmp_path, max_update=3, average_period=1),
        compute_asr_loss,
        make_batches(3),
        None,
    )
    original = trainer._update_average

    def spy():
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        original()

    trainer._update_average = spy
    trainer.fit()
    key = "output.weight"
    expected = torch.stack([s[key] for s in snapshots]).mean(0)
    torch.testing.assert_close(trainer.averaged[key], expected)


def test_non_finite_losses_are_skipped_then_training_stops(tmp_path):
    def nan_loss(model, batch):
        loss, info = compute_asr_loss(model, batch)
        return loss * float("nan"), info

    model = make_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(
        model, config(tmp_path, max_update=50, max_nonfinite=3), nan_loss, make_batches(10), None
    )
    with pytest.raises(RuntimeError, match="4 non-finite updates in a row.*diverged"):
        trainer.fit()
    assert trainer.nonfinite_total == 4
    for k, v in model.state_dict().items():  # no update was applied
        torch.testing.assert_close(v, before[k])


def _ddp_worker(rank, world, tmp, port):
    rank_env(rank, world, port)
    batches = make_batches(8, seed=5)[rank::world]  # a DDP sampler gives each rank its share
    model = make_model(seed=4)
    trainer = Trainer(
        model,
        config(tmp, max_update=4, exp_dir=f"{tmp}/ddp"),
        compute_asr_loss,
        batches,
        None,
        valid_loader=make_batches(4, seed=8)[rank::world],
    )
    trainer.fit()
    torch.save(model.state_dict(), f"{tmp}/rank{rank}.pt")
    torch.save(trainer.validate(), f"{tmp}/valid{rank}.pt")  # over both ranks' shares
    del trainer  # a DDP wrapper that outlives its process group can hang in its destructor
    dist.destroy_process_group()


def test_two_process_ddp_equals_one_process_with_the_global_batch(tmp_path):
    spawn_two(_ddp_worker, tmp_path)
    single = make_model(seed=4)
    # one process, update_freq 2: the same two batches per update as the two ranks together
    Trainer(
        single,
        config(tmp_path / "one", max_update=4, update_freq=2),
        compute_asr_loss,
        make_batches(8, seed=5),
        None,
    ).fit()
    assert_ranks_equal_single(tmp_path, single)
    one = Trainer(
        single,
        config(tmp_path / "one"),
        compute_asr_loss,
        [],
        None,
        valid_loader=make_batches(4, seed=8),
    )
    valid = [torch.load(tmp_path / f"valid{r}.pt") for r in range(2)]
    assert valid[0] == pytest.approx(valid[1])
    assert valid[0] == pytest.approx(one.validate(), rel=1e-4)


def _ddp_accumulating_worker(rank, world, tmp, port):
    rank_env(rank, world, port)
    model = make_model(seed=4)
    cfg = config(tmp, max_update=2, exp_dir=f"{tmp}/ddp", update_freq=2)
    Trainer(model, cfg, compute_asr_loss, make_batches(8, seed=5)[rank::world], None).fit()
    torch.save(model.state_dict(), f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def test_two_process_ddp_gradient_accumulation_equals_one_process(tmp_path):
    # Invariant: update_freq 2 on each of 2 DDP ranks (no_sync on the first micro-batch,
    # all-reduce on the last) is update_freq 4 in one process: the same weights.
    spawn_two(_ddp_accumulating_worker, tmp_path)
    single = make_model(seed=4)
    cfg = config(tmp_path / "one", max_update=2, update_freq=4)
    Trainer(single, cfg, compute_asr_loss, make_batches(8, seed=5), None).fit()
    assert_ranks_equal_single(tmp_path, single)


EMPTY = {
    "waveforms": torch.zeros(0, 0),
    "lengths": torch.zeros(0, dtype=torch.long),
    "supervisions": {"targets": []},
}


def _empty_batch_worker(rank, world, tmp, port):
    rank_env(rank, world, port)
    real = make_batches(3, seed=6)
    batches = [real[0], real[1]] if rank == 0 else [real[2], EMPTY]  # rank 1: all cuts skipped
    model = make_model(seed=4)
    Trainer(
        model, config(tmp, max_update=2, exp_dir=f"{tmp}/ddp"), compute_asr_loss, batches, None
    ).fit()
    torch.save(model.state_dict(), f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def test_an_empty_batch_on_one_ddp_rank_keeps_the_ranks_in_step(tmp_path):
    # the skipped batch still runs the model (silence, no tokens, loss x 0), so both ranks
    # reduce the same gradients: the result equals one process that never saw the empty batch
    spawn_two(_empty_batch_worker, tmp_path)
    real = make_batches(3, seed=6)
    single = make_model(seed=4)
    Trainer(
        single,
        config(tmp_path / "one", max_update=2, update_freq=2),
        compute_asr_loss,
        [real[0], real[2], real[1], EMPTY],
        None,
    ).fit()
    assert_ranks_equal_single(tmp_path, single)


@pytest.mark.parametrize("loss", ["torch", "k2"])
def test_an_empty_batch_gives_zero_loss_and_counters(loss):
    if loss == "k2":
        pytest.importorskip("k2", reason="k2: k2 lane only")
    model = CtcModel(random_encoder(tiny_config(), seed=0).train(), CtcConfig(VOCAB, loss=loss))
    value, info = compute_asr_loss(model, EMPTY)
    value.backward()
    assert float(value.detach()) == 0.0 and set(info.values()) == {0.0}
    assert all(p.grad is not None and not p.grad.any() for p in model.output.parameters())
