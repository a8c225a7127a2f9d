"""Real-time factor on one CPU thread: PyTorch against the ONNX exports (onnxruntime and
sherpa-onnx, fp32 and int8), greedy and with HLG.

Usage (k2 lane, after egs/numbers/ASR stages 0-5 and `./run.sh --stage 6 --stop-stage 6`):
    cd egs/numbers/ASR
    ../../../.venv/bin/python ../../../tests/benchmarks/bench_onnx_rtf.py \\
        [--exp-dir exp/ctc] [--onnx-dir EXP_DIR/onnx] [--lang-dir data/lang_char] \\
        [--cuts data/manifests/numbers_cuts_test.jsonl.gz] [--num-utts 300]

Every client decodes the same utterances one at a time (batch 1, as sherpa-onnx and a
deployed model see them), after one warm-up utterance; the audio is loaded beforehand, so
the RTF (seconds of compute per second of audio; lower is faster) is the network and the
search. The reference is PyTorch (torch.set_num_threads(1)): model forward + our CTC greedy
search; "speed-up" is its RTF over the client's. Clients:

| client                 | network                      | search                               |
|------------------------|------------------------------|--------------------------------------|
| pytorch greedy         | the checkpoint, PyTorch      | xlsr.decode.ctc.greedy_search        |
| pytorch k2-1best       | the checkpoint, PyTorch      | k2 HLG 1best (stage 5's beams)       |
| ort greedy fp32/int8   | model(.int8).onnx, onnxruntime | xlsr.decode.ctc.greedy_search      |
| ort hlg fp32/int8      | model(.int8).onnx, onnxruntime | kaldi-decoder on HLG.fst (beam 16) |
| sherpa greedy fp32/int8| sherpa-onnx OfflineRecognizer| sherpa-onnx greedy                   |
| sherpa hlg fp32/int8   | sherpa-onnx OfflineRecognizer| HLG.fst inside sherpa-onnx (beam 16) |

"same" is the share of utterances whose words equal the PyTorch reference of its kind
(greedy clients: pytorch greedy; HLG clients: pytorch k2-1best). Model sizes come from
onnx.json and the files themselves.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def load_audio(cuts_path: str, num_utts: int):
    from lhotse import load_manifest

    cuts = load_manifest(cuts_path).subset(first=num_utts)
    audio = [np.ascontiguousarray(c.load_audio()[0], dtype=np.float32) for c in cuts]
    return audio, sum(len(x) for x in audio) / 16000


def run_client(name: str, decode, audio, seconds: float):
    """(rtf, texts) of ``decode(samples) -> text`` over every utterance, after one warm-up."""
    decode(audio[0])
    start, texts = time.perf_counter(), []
    for x in audio:
        texts.append(decode(x))
    rtf = (time.perf_counter() - start) / seconds
    print(f"  {name:24s} RTF {rtf:.5f}", flush=True)
    return rtf, texts


def pytorch_clients(a, search_options):
    """{name: decode(samples) -> text} of the checkpoint under PyTorch."""
    from xlsr.tasks import get_task
    from xlsr.tasks.decode_plan import batch_decoder
    from xlsr.tasks.decoding import load_decoder

    task = get_task("asr_ctc")
    methods = ["ctc-greedy-search"]
    try:
        import k2  # noqa: F401

        methods.append("1best")
    except ImportError:
        print("  (no k2: pytorch k2-1best left out)")
    model, ctx, options = load_decoder(task, a.exp_dir, a.lang_dir, methods, **search_options)

    def client(method):
        decode_batch = batch_decoder(task, ctx, [method], options)

        def decode(x):
            with torch.no_grad():
                lp, frames = model(torch.from_numpy(x)[None], torch.tensor([len(x)]))
                return decode_batch(lp, frames)[method][0]

        return decode

    names = {"ctc-greedy-search": "pytorch greedy", "1best": "pytorch k2-1best"}
    return {names[m]: client(m) for m in methods}


def onnx_clients(onnx: Path, precision: str):
    from xlsr.decode import onnx_clients as oc
    from xlsr.decode.ctc import greedy_search
    from xlsr.decode.graph_search import kaldi_best_path

    model = onnx / ("model.onnx" if precision == "fp32" else "model.int8.onnx")
    symbols = oc.read_tokens(onnx / "tokens.txt")
    ort = oc.OrtCtc(model, num_threads=1)
    clients = {}

    def ort_greedy(x):
        lp = torch.from_numpy(ort.log_probs(x))[None]
        return oc.tokens_text(greedy_search(lp, torch.tensor([lp.shape[1]]))[0], symbols)

    clients[f"ort greedy {precision}"] = ort_greedy
    sherpa = oc.SherpaCtc(model, onnx / "tokens.txt", num_threads=1)
    clients[f"sherpa greedy {precision}"] = sherpa.decode
    if (onnx / "HLG.fst").is_file():
        import kaldifst

        fst = kaldifst.StdVectorFst.read(str(onnx / "HLG.fst"))
        words = {}
        for line in (onnx / "words.txt").read_text(encoding="utf-8").splitlines():
            word, i = line.split()
            words[int(i)] = word

        def ort_hlg(x):
            ids = kaldi_best_path(fst, ort.log_probs(x), beam=16.0, max_active=3000)
            return " ".join(words[w] for w in ids)

        clients[f"ort hlg {precision}"] = ort_hlg
        hlg = oc.SherpaCtc(model, onnx / "tokens.txt", onnx / "HLG.fst", num_threads=1)
        clients[f"sherpa hlg {precision}"] = hlg.decode
    return clients


def print_sizes(a, onnx: Path) -> None:
    info = json.loads((onnx / "onnx.json").read_text())
    print(f"\nsizes (onnx.json; checkpoint {info['source'][0]}):")
    ckpt = Path(info["source"][0])
    if not ckpt.is_absolute():
        ckpt = Path(a.exp_dir).parent.parent / ckpt  # the recipe dir
    if ckpt.is_file():
        print(f"  {'checkpoint (.pt)':24s} {ckpt.stat().st_size / 1e6:8.2f} MB (with optimizer)")
    for name, size in info["files"].items():
        print(f"  {name:24s} {size / 1e6:8.2f} MB")
    for name in ("HLG.fst", "H.fst", "words.txt"):
        if (onnx / name).is_file():
            print(f"  {name:24s} {(onnx / name).stat().st_size / 1e6:8.2f} MB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exp-dir", default="exp/ctc")
    p.add_argument("--onnx-dir", default=None, help="default: EXP_DIR/onnx (stage 6)")
    p.add_argument("--lang-dir", default="data/lang_char")
    p.add_argument("--cuts", default="data/manifests/numbers_cuts_test.jsonl.gz")
    p.add_argument("--num-utts", type=int, default=300)
    # stage 5's k2 search (conf/decode_asr_ctc.yaml)
    p.add_argument("--search-beam", type=float, default=12.0)
    p.add_argument("--output-beam", type=float, default=5.0)
    p.add_argument("--max-active-states", type=int, default=2000)
    a = p.parse_args()
    onnx = Path(a.onnx_dir or f"{a.exp_dir}/onnx")
    if not (onnx / "onnx.json").is_file():
        raise SystemExit(f"{onnx}: no ONNX export (run.sh --stage 6 --stop-stage 6)")
    torch.set_num_threads(1)
    audio, seconds = load_audio(a.cuts, a.num_utts)
    print(f"{len(audio)} utterances, {seconds:.1f} s of audio, 1 thread, torch {torch.__version__}")
    search = dict(
        search_beam=a.search_beam,
        output_beam=a.output_beam,
        max_active_states=a.max_active_states,
    )
    clients = pytorch_clients(a, search)
    for precision in ("fp32", "int8"):
        clients.update(onnx_clients(onnx, precision))
    results = {name: run_client(name, fn, audio, seconds) for name, fn in clients.items()}
    ref_rtf = results["pytorch greedy"][0]
    print("\n| client | RTF | speed-up vs pytorch greedy | same text as reference |")
    print("|---|---|---|---|")
    for name, (rtf, texts) in results.items():
        ref = "pytorch k2-1best" if "hlg" in name or "1best" in name else "pytorch greedy"
        ref = ref if ref in results else "pytorch greedy"
        same = np.mean([x.split() == y.split() for x, y in zip(texts, results[ref][1])])
        print(f"| {name} | {rtf:.5f} | {ref_rtf / rtf:.2f} | {100 * same:.1f} % ({ref}) |")
    print_sizes(a, onnx)


if __name__ == "__main__":
    main()
