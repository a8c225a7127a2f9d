"""CTC decoding speed: real-time factor per method, and k2 HLG 1best against kaldi-decoder.

Usage (k2 lane, after egs/numbers/ASR stages 0-4):
    cd egs/numbers/ASR
    ../../../.venv/bin/python ../../../tests/benchmarks/bench_ctc_decode.py --exp-dir exp/ctc \\
        --lang-dir data/lang_char --cuts data/manifests/numbers_cuts_test.jsonl.gz \\
        [--num-utts 50] [--methods ctc-greedy-search,ctc-decoding,1best,whole-lattice-rescoring]

The network runs once; every method then decodes the same log-posteriors, so the RTF is
the search alone (seconds of search per second of audio; lower is faster). The same
posteriors go through HLG.fst with kaldi-decoder's FasterDecoder (beam = --search-beam),
utterance by utterance, and the script prints the time ratio kaldi/k2 and how often the two
best word sequences agree.
"""

from __future__ import annotations

import argparse
import time

import torch

from xlsr.data.dataset import DataConfig, make_dataloader
from xlsr.tasks import get_task
from xlsr.tasks.decode_plan import batch_decoder
from xlsr.tasks.decoding import load_decoder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--lang-dir", required=True)
    p.add_argument("--cuts", required=True)
    p.add_argument("--num-utts", type=int, default=50)
    p.add_argument(
        "--methods", default="ctc-greedy-search,ctc-decoding,1best,whole-lattice-rescoring"
    )
    p.add_argument("--search-beam", type=float, default=12.0)
    p.add_argument("--output-beam", type=float, default=5.0)
    p.add_argument("--max-active-states", type=int, default=2000)
    a = p.parse_args()
    from lhotse import load_manifest

    task, methods = get_task("asr_ctc"), a.methods.split(",")
    model, ctx, options = load_decoder(
        task,
        a.exp_dir,
        a.lang_dir,
        methods + ["1best"],
        lm_scales=(0.5,),
        num_paths=20,
        nbest_scale=0.5,
        search_beam=a.search_beam,
        output_beam=a.output_beam,
        max_active_states=a.max_active_states,
    )
    cuts = load_manifest(a.cuts).subset(first=a.num_utts)
    loader, _ = make_dataloader(
        cuts,
        DataConfig(max_duration=60.0, min_cut_duration=0.01, max_cut_duration=60.0),
        train=False,
    )
    batches, audio = [], 0.0
    with torch.no_grad():
        for b in loader:
            lp, frames = model(b["waveforms"], b["lengths"])
            batches.append((lp, frames))
            audio += float(b["lengths"].sum()) / 16000
    print(f"{len(cuts)} utterances, {audio:.1f} s of audio, torch {torch.__version__}")
    k2_words = []
    for m in methods:
        start = time.perf_counter()
        for lp, frames in batches:
            out = batch_decoder(task, ctx, [m], options)(lp, frames)
            if m == "1best":
                k2_words += out["1best"]
        print(f"  {m:28s} RTF {(time.perf_counter() - start) / audio:.4f}")
    compare_kaldi(a, batches, audio, k2_words, ctx, options)


def compare_kaldi(a, batches, audio: float, k2_words, ctx, options) -> None:
    import kaldifst

    from xlsr.decode.ctc import one_best
    from xlsr.decode.graph_search import kaldi_best_path
    from xlsr.tasks.asr_ctc import GraphSearchConfig

    search = options[GraphSearchConfig]
    if not k2_words:
        start = time.perf_counter()
        for lp, frames in batches:
            k2_words += [
                " ".join(ctx["words"][w] for w in s)
                for s in one_best(ctx["HLG"], lp, frames, search)
            ]
        k2_time = time.perf_counter() - start
    else:
        start = time.perf_counter()
        for lp, frames in batches:
            one_best(ctx["HLG"], lp, frames, search)
        k2_time = time.perf_counter() - start
    fst = kaldifst.StdVectorFst.read(f"{a.lang_dir}/HLG.fst")
    start, kaldi_words = time.perf_counter(), []
    for lp, frames in batches:
        for i in range(lp.shape[0]):
            ids = kaldi_best_path(
                fst, lp[i, : frames[i]].numpy(), beam=a.search_beam, max_active=a.max_active_states
            )
            kaldi_words.append(" ".join(ctx["words"][w] for w in ids))
    kaldi_time = time.perf_counter() - start
    agree = sum(x == y for x, y in zip(k2_words, kaldi_words)) / max(len(kaldi_words), 1)
    print(
        f"  k2 1best RTF {k2_time / audio:.4f}, kaldi-decoder RTF {kaldi_time / audio:.4f}, "
        f"time ratio kaldi/k2 {kaldi_time / k2_time:.2f}, best paths agree {100 * agree:.1f} %"
    )


if __name__ == "__main__":
    main()
