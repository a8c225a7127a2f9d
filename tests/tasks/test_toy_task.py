"""A task added from outside the toolkit, through the registry only: a two-class classifier
("is this utterance English?") on the shared encoder, trained by the generic entry point.
This is the README's "Add a task" walk-through, checked."""

import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xlsr.bin import decode as decode_bin
from xlsr.bin import train as train_bin
from xlsr.models.base import TaskModel
from xlsr.tasks import Method, Task, get_task, register, task_names
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.testing.train import tiny_train_args
from xlsr.train import checkpoint as ckpt

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")


@dataclass
class ToyConfig:
    num_classes: int = 2  # output classes of the pooled classifier


class ToyModel(TaskModel):
    task_name = "toy_is_english"

    def __init__(self, encoder, cfg: ToyConfig) -> None:
        super().__init__(encoder)
        self.cfg = cfg
        self.output = nn.Linear(encoder.output_dim, cfg.num_classes)

    def forward(self, waveforms, lengths, targets=None):
        hidden, frames = self.encode(waveforms, lengths)
        mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
        pooled = (hidden * mask[..., None]).sum(1) / frames[:, None].clamp(min=1)
        logits = self.output(pooled)
        if targets is None:
            return logits, frames
        loss = F.cross_entropy(logits, targets.to(logits.device), reduction="sum")
        return loss, {"utterances": float(len(targets)), "frames": float(frames.sum())}


class IsEnglish:
    def __call__(self, cut) -> int:
        return int(cut.supervisions[0].language == "en")


def _argmax(ctx, logits, frames, options):
    return {"argmax": [str(int(i)) for i in logits.argmax(-1)]}


class ToyTask(Task):
    name = "toy_is_english"
    section = "toy"
    config_cls = ToyConfig
    model_cls = ToyModel
    arch_fields = ("num_classes",)
    require_text = False
    methods = {"argmax": Method(_argmax)}
    default_methods = ("argmax",)

    metric = "error"

    def targets(self, lang_dir):
        return IsEnglish()

    def reference(self, lang_dir):
        return lambda cut: str(IsEnglish()(cut))

    def score(self, out_dir, test_set, items, **kwargs):
        # the contract's hyps file, and the share of utterances classified wrongly
        import json
        from pathlib import Path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        rows = [{"id": it["id"], "ref": it["ref"], "hyp": it["hyp"]} for it in items]
        (out / f"hyps-{test_set}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        wrong = sum(r["ref"] != r["hyp"] for r in rows)
        score = {
            "error": 100.0 * wrong / len(rows),
            "accuracy": 100.0 - 100.0 * wrong / len(rows),
            "n": len(rows),
            "utts": len(rows),
        }
        (out / f"score-{test_set}.json").write_text(json.dumps(score))
        return score

    def loss(self, model, batch):
        core = model.module if hasattr(model, "module") else model
        device = next(core.parameters()).device
        wav, lengths = batch["waveforms"].to(device), batch["lengths"].to(device)
        return model(wav, lengths, batch["supervisions"]["targets"])


register(ToyTask())


def test_the_toy_task_is_registered_beside_the_built_in_ones():
    assert {"asr_ctc", "asr_transducer", "toy_is_english"} <= set(task_names())
    assert isinstance(get_task("toy_is_english"), ToyTask)
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        get_task("nope")


def test_the_generic_entry_point_trains_the_toy_task(tmp_path):
    # Invariant: a task defined in one module trains through xlsr.bin.train with options
    # generated from its config (--toy-num-classes), and config.yaml records the task, so a
    # rerun without --task finds it.
    cuts = make_tiny_cutset(tmp_path / "audio", n=6, durations=[1.0] * 6)
    cuts.to_file(tmp_path / "cuts.jsonl.gz")
    (tmp_path / "lang").mkdir()
    args = tiny_train_args(tmp_path / "lang", tmp_path / "cuts.jsonl.gz", tmp_path / "exp")
    assert (
        train_bin.main(
            ["--task", "toy_is_english", "--toy-num-classes", "2", "--max-update", "2", *args]
        )
        == 0
    )
    state = ckpt.load_checkpoint(tmp_path / "exp" / "checkpoint-2.pt")
    assert (
        state["config"]["task"] == "toy_is_english" and state["config"]["toy"]["num_classes"] == 2
    )
    assert state["model"]["output.weight"].shape[0] == 2
    assert train_bin.main(["--max-update", "3", *args]) == 0  # the task from config.yaml
    assert ckpt.load_checkpoint(tmp_path / "exp" / "checkpoint-3.pt")["trainer"]["update"] == 3
    # ... and decodes through xlsr.bin.decode, the task again from config.yaml
    rc = decode_bin.main(
        [
            "--exp-dir",
            str(tmp_path / "exp"),
            "--lang-dir",
            str(tmp_path / "lang"),
            "--cuts",
            str(tmp_path / "cuts.jsonl.gz"),
            "--test-set",
            "toy",
        ]
    )
    assert rc == 0
    hyps = (tmp_path / "exp" / "decode" / "argmax" / "hyps-toy.jsonl").read_text().splitlines()
    assert len(hyps) == 6 and all(json.loads(h)["hyp"] in ("0", "1") for h in hyps)
    score = json.loads((tmp_path / "exp" / "decode" / "argmax" / "score-toy.json").read_text())
    assert score["n"] == 6 and 0 <= score["accuracy"] <= 100
    summary = (tmp_path / "exp" / "decode" / "summary-toy.txt").read_text()
    assert "ERROR" in summary and "argmax" in summary
