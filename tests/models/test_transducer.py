"""The transducer head: decoder/joiner shapes, the pruned RNN-T loss against the full loss
(k2 and torchaudio), padding, gradients, loss-weight warm-up, and the trainer's loss_fn."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xlsr.graph.k2_utils import has_k2
from xlsr.models.transducer import (
    Decoder,
    Joiner,
    TransducerConfig,
    TransducerModel,
)
from xlsr.tasks.asr import compute_asr_loss
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config

V = 8
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


def model(seed: int = 0, **kw) -> TransducerModel:
    cfg = TransducerConfig(**{"vocab_size": V, "decoder_dim": 16, "joiner_dim": 24, **kw})
    m = TransducerModel(random_encoder(tiny_config(), seed=1), cfg)
    torch.manual_seed(seed)
    for p in [*m.decoder.parameters(), *m.joiner.parameters()]:
        nn.init.normal_(p, std=0.5)  # a peaked, non-uniform joiner: pruning matters
    return m.eval()


def random_inputs(seed: int, frames, targets, dim: int = 32, garbage: float = 50.0):
    """encoder_out (B, max frames, dim) with large values in the padding, frames (B,)."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.tensor(frames)
    enc = torch.randn(len(frames), int(frames.max()), dim, generator=g)
    for i, n in enumerate(frames.tolist()):
        enc[i, n:] = garbage * torch.randn(enc.shape[1] - n, dim, generator=g)
    return enc, frames, targets


def full_logits(m: TransducerModel, enc, targets):
    """Every (t, u) joiner output (B, T, U + 1, V) and the padded targets (B, U)."""
    u = max(len(t) for t in targets)
    y = torch.zeros(len(targets), u, dtype=torch.long, device=enc.device)
    for i, t in enumerate(targets):
        y[i, : len(t)] = torch.tensor(t, dtype=torch.long)
    dec = m.decoder(F.pad(y, (1, 0), value=0))  # blank (sos) + targets
    return m.joiner(enc[:, :, None], dec[:, None]), y


# ------------------------------------------------------------------- no k2 needed


@pytest.mark.parametrize("context_size", [1, 2, 3])
def test_decoder_step_form_equals_last_position_of_padded_form(context_size):
    # decoding feeds the last context_size tokens (blanks before the start); the output
    # must be what the training form computes at that position
    torch.manual_seed(0)
    dec = Decoder(V, 12, context_size)
    nn.init.normal_(dec.embedding.weight)
    y = torch.tensor([[0, 3, 5, 1, 7], [0, 2, 2, 6, 4]])
    full = dec(y)
    assert full.shape == (2, 5, 12)
    padded = F.pad(y, (context_size - 1, 0), value=0)
    for u in range(y.shape[1]):
        step = dec(padded[:, u : u + context_size], need_pad=False)
        assert step.shape == (2, 1, 12)
        torch.testing.assert_close(step[:, 0], full[:, u])
    if context_size > 1:
        with pytest.raises(ValueError, match="context tokens"):
            dec(y[:, :1], need_pad=False)
    with pytest.raises(ValueError, match=r"\(batch, U\)"):
        dec(y[0])


def test_joiner_broadcasts_and_projects_once():
    torch.manual_seed(0)
    j = Joiner(encoder_dim=10, decoder_dim=6, joiner_dim=9, vocab_size=V)
    enc, dec = torch.randn(2, 5, 10), torch.randn(2, 4, 6)
    out = j(enc[:, :, None], dec[:, None])
    assert out.shape == (2, 5, 4, V)
    pre = j(j.encoder_proj(enc)[:, :, None], j.decoder_proj(dec)[:, None], project_input=False)
    torch.testing.assert_close(out, pre)


def test_warm_up_loss_weights():
    m = model(warm_step=100, simple_loss_scale=0.5)
    expected = {0: (1.0, 0.1), 50: (0.75, 0.55), 100: (0.5, 1.0), 5000: (0.5, 1.0)}
    for n, (simple, pruned) in expected.items():
        m.num_updates = n
        assert m.loss_scales() == pytest.approx((simple, pruned))


def test_bad_inputs_raise_naming_what_was_found():
    m = model()
    enc, frames, _ = random_inputs(0, [5, 4], [[1], [2]])
    with pytest.raises(ValueError, match=r"found \[0, 9\]"):
        m.loss(enc, frames, [[1, 0], [9]])
    with pytest.raises(ValueError, match="3 targets for a batch of 2"):
        m.loss(enc, frames, [[1], [2], [3]])
    with pytest.raises(ValueError, match="frames up to 7"):
        m.loss(enc, torch.tensor([7, 4]), [[1], [2]])
    with pytest.raises(ValueError, match=r"\(B, T, D\)"):
        m.loss(enc[0], frames, [[1], [2]])


def test_missing_k2_is_a_clear_error():
    if has_k2():
        pytest.skip("k2 is installed (k2 lane)")
    enc, frames, targets = random_inputs(0, [5, 4], [[1], [2]])
    with pytest.raises(ImportError, match="k2 pruned RNN-T loss needs k2"):
        model().loss(enc, frames, targets)


def test_empty_batch_gives_a_zero_loss_with_a_graph():
    # the model still runs (on silence, no tokens), so DDP ranks stay in step: needs k2
    pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model()
    batch = {
        "waveforms": torch.zeros(0, 0),
        "lengths": torch.zeros(0, dtype=torch.long),
        "supervisions": {"targets": []},
    }
    loss, info = compute_asr_loss(m, batch)
    loss.backward()
    assert float(loss.detach()) == 0.0 and info["utterances"] == 0.0
    assert all(p.grad is not None and not p.grad.any() for p in m.joiner.parameters())


# ------------------------------------------------------------------------------ k2


@pytest.mark.parametrize("reference", ["k2", "torchaudio"])
@pytest.mark.parametrize("device", DEVICES)
def test_pruned_loss_with_a_wide_range_equals_the_full_loss(reference, device):
    # prune_range >= max U + 1 keeps every symbol at every frame: the pruned loss is then
    # the full RNN-T loss of the same joiner, whatever the simple loss chose
    k2 = pytest.importorskip("k2", reason="k2: k2 lane only")
    targets = [[1, 2, 3, 4, 5], [3, 3], [], [7, 1, 6]]
    enc, frames, _ = random_inputs(0, [12, 7, 9, 3], targets)
    m = model(prune_range=6).to(device)
    enc, frames = enc.to(device), frames.to(device)
    _, pruned = m.rnnt_losses(enc, frames, targets)
    logits, y = full_logits(m, enc, targets)
    lens = torch.tensor([len(t) for t in targets], device=device)
    if reference == "k2":
        boundary = torch.stack([0 * lens, 0 * lens, lens, frames], dim=1)
        full = k2.rnnt_loss(logits, y, termination_symbol=0, boundary=boundary, reduction="none")
    else:
        ta = pytest.importorskip("torchaudio", reason="torchaudio: k2 lane only")
        # torchaudio takes raw logits (log_softmax inside) and int32 targets and lengths
        full = ta.functional.rnnt_loss(
            logits, y.int(), frames.int(), lens.int(), blank=0, reduction="none"
        )
    torch.testing.assert_close(pruned, full, rtol=1e-4, atol=1e-4)


def test_empty_targets_cost_the_blank_path():
    # U = 0: the only path emits a blank at every frame from the start context
    pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model()
    enc, frames, targets = random_inputs(1, [6, 4], [[], []])
    _, pruned = m.rnnt_losses(enc, frames, targets)
    dec = m.decoder(torch.zeros(2, 1, dtype=torch.long))  # (2, 1, decoder_dim)
    blank_lp = m.joiner(enc, dec).log_softmax(-1)[..., 0]  # (2, T)
    expected = torch.stack([-blank_lp[i, :n].sum() for i, n in enumerate(frames.tolist())])
    torch.testing.assert_close(pruned, expected, rtol=1e-5, atol=1e-5)


def test_an_utterance_costs_the_same_alone_and_in_a_padded_batch():
    # a narrow range (3 < U + 1) so the ranges themselves are compared; the padding frames
    # hold large values, which must change nothing
    pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model(prune_range=3)
    targets = [[1, 2, 3, 4, 5, 6, 7], [3, 1, 2], [5, 5, 5, 2], []]
    enc, frames, _ = random_inputs(2, [14, 7, 10, 5], targets)
    simple, pruned = m.rnnt_losses(enc, frames, targets)
    for i, n in enumerate(frames.tolist()):
        s1, p1 = m.rnnt_losses(enc[i : i + 1, :n], frames[i : i + 1], targets[i : i + 1])
        torch.testing.assert_close(s1[0], simple[i], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(p1[0], pruned[i], rtol=1e-5, atol=1e-5)
    loss, info = m.loss(enc, frames, targets)
    s_scale, p_scale = m.loss_scales()
    assert info["simple_loss"] == pytest.approx(float(simple.sum()), rel=1e-5)
    assert info["pruned_loss"] == pytest.approx(float(pruned.sum()), rel=1e-5)
    assert float(loss) == pytest.approx(
        s_scale * info["simple_loss"] + p_scale * info["pruned_loss"], rel=1e-5
    )


def test_infeasible_utterances_are_dropped_and_counted():
    # more tokens than frames (icefall drops such cuts) and an utterance without frames
    pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model()
    targets = [[1, 2], [1, 2, 3, 4, 5, 6], [3]]
    enc, frames, _ = random_inputs(3, [8, 4, 0], targets)
    loss, info = m.loss(enc, frames, targets)
    assert info["infeasible"] == 2 and info["utterances"] == 1
    assert info["frames"] == 8 and info["tokens"] == 2
    alone, _ = m.loss(enc[:1], frames[:1], targets[:1])
    torch.testing.assert_close(loss, alone)
    nothing, info = m.loss(enc[1:], frames[1:], targets[1:])
    nothing.backward()  # every utterance dropped: still a graph, zero gradients
    assert float(nothing.detach()) == 0.0 and info["infeasible"] == 2


def test_gradients_reach_encoder_decoder_joiner_and_ctc():
    pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model(ctc_loss_scale=0.3)
    wav, lengths = padded_batch([4000, 6400, 3200])
    targets = [[1, 2, 3], [4, 4, 5, 6], [7]]
    enc, frames = m(wav, lengths)
    loss, info = m.loss(enc, frames, targets)
    assert info["ctc_loss"] > 0 and info["utterances"] == 3
    loss.backward()
    parts = {
        "encoder": m.encoder,
        "decoder": m.decoder,
        "joiner": m.joiner,
        "simple_am_proj": m.simple_am_proj,
        "simple_lm_proj": m.simple_lm_proj,
        "ctc_output": m.ctc_output,
    }
    for name, part in parts.items():
        grads = [p.grad for p in part.parameters() if p.grad is not None]
        assert grads, name
        assert all(torch.isfinite(g).all() for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    last = m.encoder.encoder.layers[-1].fc2.weight.grad
    assert last is not None and last.abs().sum() > 0


def test_a_few_updates_memorise_a_tiny_batch():
    pytest.importorskip("k2", reason="k2: k2 lane only")
    torch.manual_seed(0)
    m = model(warm_step=1).train()
    m.num_updates = 1  # final loss weights
    wav, lengths = padded_batch([4000, 3200])
    targets = [[1, 2, 3], [5, 6]]
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        enc, frames = m(wav, lengths)
        loss, _ = m.loss(enc, frames, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], losses


def test_compute_asr_loss_on_a_dataloader_batch():
    pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model()
    wav, lengths = padded_batch([4000, 6400])
    targets = [[1, 2, 3], [4, 5]]
    batch = {"waveforms": wav, "lengths": lengths, "supervisions": {"targets": targets}}

    class Wrapped(nn.Module):  # the attribute layout of DistributedDataParallel
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *args):
            return self.module(*args)

    loss, info = compute_asr_loss(Wrapped(m), batch)
    enc, frames = m(wav, lengths)
    direct, direct_info = m.loss(enc, frames, targets)
    torch.testing.assert_close(loss, direct)
    assert info == {**direct_info, "audio_seconds": pytest.approx(10400 / 16000)}
    assert info["utterances"] == 2 and info["tokens"] == 5


def _ddp_worker(rank, world, tmp, port):
    import os

    import torch.distributed as dist

    from xlsr.testing.train import config
    from xlsr.train.trainer import Trainer

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    m = model().train()
    Trainer(
        m,
        config(tmp, max_update=3, exp_dir=f"{tmp}/ddp"),
        compute_asr_loss,
        ddp_batches()[rank::world],
        None,
    ).fit()
    torch.save(m.state_dict(), f"{tmp}/rank{rank}.pt")
    dist.destroy_process_group()


def ddp_batches():
    out = []
    for i in range(6):
        wav, lengths = padded_batch([4000, 3200], seed=i)
        targets = [[1 + i % 7, 2, 3], [4, 1 + (i + 3) % 7]]
        out.append({"waveforms": wav, "lengths": lengths, "supervisions": {"targets": targets}})
    return out


def test_two_process_ddp_training_equals_one_process(tmp_path):
    # the loss runs inside forward (decoder and joiner included), so DDP reduces every
    # gradient: 2 gloo processes give the parameters of 1 process with the global batch
    pytest.importorskip("k2", reason="k2: k2 lane only")
    from xlsr.testing.train import assert_ranks_equal_single, config, spawn_two
    from xlsr.train.trainer import Trainer

    spawn_two(_ddp_worker, tmp_path)
    single = model().train()
    Trainer(
        single,
        config(tmp_path / "one", max_update=3, update_freq=2),
        compute_asr_loss,
        ddp_batches(),
        None,
    ).fit()
    assert_ranks_equal_single(tmp_path, single)


def test_trainer_sets_the_warm_up_update_count(tmp_path):
    pytest.importorskip("k2", reason="k2: k2 lane only")
    from xlsr.testing.train import config
    from xlsr.train.trainer import Trainer

    m = model().train()
    seen = []

    def spy(mdl, batch):
        seen.append(mdl.num_updates)
        return compute_asr_loss(mdl, batch)

    Trainer(m, config(tmp_path, max_update=3), spy, ddp_batches()[:3], None).fit()
    assert seen == [0, 1, 2]
