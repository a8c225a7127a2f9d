"""xlsr.bin.train --task asr_ctc under torchrun: 2 CPU processes (gloo), DDP sampler, rank-aware
logging and checkpointing; DDP, and FSDP with activation checkpointing where torch has it;
train.global_batch_duration resolved for the world size."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.testing.train import tiny_train_args
from xlsr.train.checkpoint import load_checkpoint
from xlsr.train.fsdp import fsdp_available


@pytest.mark.parametrize("distributed", ["ddp", "fsdp"])
def test_two_process_torchrun_training(tmp_path, distributed):
    if distributed == "fsdp" and not fsdp_available():
        pytest.skip("FSDP (fully_shard) needs torch >= 2.6")
    if shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("torchrun is not installed next to this python")
    cuts = make_tiny_cutset(tmp_path / "audio", n=8, durations=[1.0] * 8)
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    texts = {}
    for c in cuts:
        texts.setdefault(c.supervisions[0].language, []).append(c.supervisions[0].text)
    train_tokenizer(texts, tmp_path / "lang" / "tokenizer", TokenizerConfig(model_type="char"))
    torchrun = str(Path(sys.executable).parent / "torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "xlsr.bin.train"]
    cmd += [
        "--task",
        "asr_ctc",
        *tiny_train_args(tmp_path / "lang", tmp_path / "cuts.jsonl.gz", tmp_path / "exp"),
    ]
    cmd += ["--max-update", "3", "--ctc-loss", "torch", "--lr", "1e-3", "--log-interval", "1"]
    cmd += ["--distributed", distributed]
    # 8 s per update over 2 processes with batches of at most 2.5 s: update_freq 2 of 2 s
    cmd += ["--global-batch-duration", "8"]
    cmd += ["--enc-checkpoint-activations", str(distributed == "fsdp").lower()]
    env = {"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent)}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, **env}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    exp = tmp_path / "exp"
    logs = sorted(p.name for p in (exp / "log").glob("train-*.log"))
    assert any(n.endswith("rank0.log") for n in logs) and any(n.endswith("rank1.log") for n in logs)
    assert "world size 2" in next((exp / "log").glob("*rank0.log")).read_text()
    state = load_checkpoint(exp / "checkpoint-3.pt")
    assert state["trainer"]["update"] == 3 and (exp / "config.yaml").exists()
    assert state["config"]["train"]["distributed"] == distributed
    assert state["config"]["train"]["update_freq"] == 2
    assert state["config"]["data"]["max_duration"] == 2.0
    rank0_log = next((exp / "log").glob("*rank0.log")).read_text()
    assert (
        "global batch 8 s per update: 2 process(es) x update_freq 2 x batches of 2.0 s" in rank0_log
    )
    assert not any("_fsdp" in k or "module." in k for k in state["model"])  # plain key names
