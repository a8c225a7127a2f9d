"""The CTC head: k2 and torch losses agree, infeasible utterances, frozen encoder, greedy."""

import pytest
import torch

from xlsr.decode.ctc import greedy_search
from xlsr.models.ctc import CtcConfig, CtcModel, torch_ctc_loss
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config


def model(loss="torch", output_beam=10.0):
    cfg = CtcConfig(vocab_size=10, loss=loss, output_beam=output_beam)
    return CtcModel(random_encoder(tiny_config(), seed=1), cfg)


def test_k2_and_torch_ctc_losses_agree():
    pytest.importorskip("k2", reason="k2: k2 lane only")
    wav, lengths = padded_batch([4000, 6400, 3200])
    targets = [[1, 2, 3], [4, 4, 5, 6], [7]]
    # a wide beam: the k2 loss lattice is exact (the default 10 prunes a little on the flat
    # posteriors of an untrained model)
    m_k2, m_torch = model("k2", output_beam=1000.0).eval(), model("torch").eval()
    m_torch.load_state_dict(m_k2.state_dict())
    lp, frames = m_k2(wav, lengths)
    loss_k2, info_k2 = m_k2.loss(lp, frames, targets)
    loss_torch, info_torch = m_torch.loss(lp, frames, targets)
    torch.testing.assert_close(loss_k2.float(), loss_torch.float(), rtol=1e-4, atol=1e-3)
    assert info_k2 == info_torch
    # and their gradients for the weights (torch's gradient w.r.t. log_probs itself is
    # defined differently, folding in log_softmax; through log_softmax both agree)
    g_k2 = torch.autograd.grad(loss_k2, m_k2.output.weight, retain_graph=True)[0]
    g_torch = torch.autograd.grad(loss_torch, m_k2.output.weight)[0]
    torch.testing.assert_close(g_k2.float(), g_torch.float(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("loss", ["torch", "k2"])
def test_infeasible_utterances_are_dropped_and_counted(loss):
    if loss == "k2":
        pytest.importorskip("k2", reason="k2: k2 lane only")
    m = model(loss).eval()
    wav, lengths = padded_batch([4000, 1200])  # 12 and 3 frames
    lp, frames = m(wav, lengths)
    total, info = m.loss(lp, frames, [[1, 2], [1, 1, 2, 2, 3]])  # the 2nd needs >= 7 frames
    assert info["infeasible"] == 1 and info["utterances"] == 1 and torch.isfinite(total)
    alone = torch_ctc_loss(lp[:1], frames[:1], [[1, 2]])[0]
    torch.testing.assert_close(total.float(), alone.float(), rtol=1e-4, atol=1e-4)


def test_frozen_encoder_trains_only_the_head():
    m = model().train()
    m.freeze_encoder = True
    wav, lengths = padded_batch([4000, 3000])
    lp, frames = m(wav, lengths)
    m.loss(lp, frames, [[1, 2], [3]])[0].backward()
    assert m.output.weight.grad is not None
    assert all(p.grad is None for p in m.encoder.parameters())


def test_greedy_collapses_repeats_and_blanks():
    lp = torch.full((1, 7, 4), -10.0)
    for t, tok in enumerate([1, 1, 0, 1, 2, 2, 0]):
        lp[0, t, tok] = 0.0
    assert greedy_search(lp, torch.tensor([7])) == [[1, 1, 2]]
    assert greedy_search(lp, torch.tensor([2])) == [[1]]
