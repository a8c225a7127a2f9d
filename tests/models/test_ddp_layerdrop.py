"""LayerDrop under DDP: 2 real processes (gloo) equal 1 process with the same global batch.

Every rank draws the same layers to drop at each step (``layerdrop_seed`` + step counter),
so DDP with ``find_unused_parameters=True`` reduces the same set of gradients everywhere.
"""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config

STEPS = 4
CFG = dict(num_layers=4, layerdrop=0.5, layerdrop_seed=11)


def _train(model, batches, rank=0, world=1):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for wav, lengths in batches:
        per = wav.shape[0] // world
        w, n = wav[rank * per : (rank + 1) * per], lengths[rank * per : (rank + 1) * per]
        hidden, frames = model(w, n, mask=False)
        loss = hidden.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _batches():
    return [padded_batch([3200, 3200, 3200, 3200], seed=s) for s in range(STEPS)]


def _worker(rank, world, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.set_num_threads(1)
    enc = random_encoder(tiny_config(**CFG), seed=5).train()
    model = DistributedDataParallel(enc, find_unused_parameters=True)
    _train(model, _batches(), rank, world)
    torch.save(enc.state_dict(), os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available")
def test_ddp_with_layerdrop_matches_single_process(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    single = random_encoder(tiny_config(**CFG), seed=5).train()
    _train(single, _batches())
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ranks[0][name], ranks[1][name], msg=name)
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-4, atol=1e-5, msg=name)
    # and training moved the weights of the layers that ran
    start = random_encoder(tiny_config(**CFG), seed=5).state_dict()
    key = "encoder.layers.{}.fc1.weight"
    assert any(not torch.allclose(start[key.format(i)], ranks[0][key.format(i)]) for i in range(4))
