"""LID / SID evaluation throughput: utterances per second and real-time factor of the
XLS-R LID evaluation (10 views of at most 10 s per utterance), against one pass over each
whole utterance measured in the same run.

Usage (after egs/numbers/LID stages 0-4):
    cd egs/numbers/LID
    ../../../.venv/bin/python ../../../tests/benchmarks/bench_classify.py --exp-dir exp/lid \\
        --lang-dir data/lang_lid --cuts data/manifests/numbers_cuts_test.jsonl.gz \\
        [--views 10] [--max-sample-size 160000] [--num-utts 200]

Each configuration decodes the same utterances through the task's decoding model (the
``ViewEnsemble`` of ``xlsr.bin.decode``) and its ``argmax`` method; RTF is seconds of
compute per second of audio (lower is faster), the ratio is views / single pass. A crop
length below the utterances' (``--max-sample-size 48000``) shows the cost of the views.
"""

from __future__ import annotations

import argparse
import time

import torch

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.tasks import get_task
from xlsr.tasks.decode_plan import batch_decoder
from xlsr.tasks.decoding import load_decoder


def run(task, exp_dir, lang_dir, batches, **values) -> float:
    """Seconds to classify ``batches`` with the given view options."""
    model, ctx, options = load_decoder(task, exp_dir, lang_dir, ["argmax"], **values)
    runner = task.decoding_model(model, ["argmax"], options)
    decode = batch_decoder(task, ctx, ["argmax"], options)
    start = time.perf_counter()
    with torch.no_grad():
        for wav, lengths in batches:
            out, frames = runner(wav, lengths)
            decode(out, frames)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--cuts", required=True)
    p.add_argument("--task", default="lid")
    p.add_argument("--num-utts", type=int, default=200)
    p.add_argument("--views", type=int, default=10)
    p.add_argument("--max-sample-size", type=int, default=160000)
    a = p.parse_args()
    from lhotse import load_manifest

    cuts = load_manifest(a.cuts).subset(first=a.num_utts)
    cfg = DataConfig(max_duration=60.0, min_cut_duration=0.01, max_cut_duration=60.0)
    loader, _ = make_dataloader(cuts, cfg, train=False)
    batches = [(b["waveforms"], b["lengths"]) for b in loader]
    audio = sum(float(lengths.sum()) for _, lengths in batches) / 16000
    n = sum(len(lengths) for _, lengths in batches)
    longer = sum(int((lengths > a.max_sample_size).sum()) for _, lengths in batches)
    print(
        f"{n} utterances, {audio:.1f} s of audio ({longer} longer than a crop), "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    task = get_task(a.task)
    whole = run(task, a.exp_dir, a.lang_dir, batches, views=1, max_sample_size=10**9)
    views = run(
        task, a.exp_dir, a.lang_dir, batches, views=a.views, max_sample_size=a.max_sample_size
    )
    for name, secs in (("1 view (whole utterances)", whole), (f"{a.views} views", views)):
        print(f"  {name:28s} {n / secs:7.1f} utt/s  RTF {secs / audio:.4f}")
    print(f"  ratio {a.views} views / 1 view: {views / whole:.2f}")


if __name__ == "__main__":
    main()
