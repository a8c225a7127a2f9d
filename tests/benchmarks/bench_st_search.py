"""ST search speed: our greedy and beam search against Hugging Face ``generate``, same weights.

Usage (modern lane, transformers installed):
    .venv-modern/bin/python tests/benchmarks/bench_st_search.py [--batch 8] [--seconds 2,6]
        [--tokens 30] [--beams 4,5] [--iters 5] [--threads 1] [--encoder xlsr_mini|tiny]

One random StModel (the numbers ST recipe's size: ``xlsr_mini`` encoder, ``st_tiny``
decoder: width 128, 2 layers, vocab --vocab) is saved with ``write_hf_st_dir`` and loaded as
transformers' ``SpeechEncoderDecoderModel``. On one batch of random audio each search runs
(1) on the same decoder memory, ours from ``memory``, HF from ``encoder_outputs=`` (the
search alone), and (2) end to end from the waveforms (encoder + search). Runs alternate
between ours and HF after one warm-up; the table has the median ms per batch, output
tokens/s (the best hypothesis of each utterance) and the speed ratio ours/HF (> 1: ours
is faster), and whether the outputs agree; "HF, mask once" is HF with its per-step
recomputation of the encoder frame mask memoised (see :func:`mask_once`).

Lengths: a random model's eos comes whenever it likes, so every hypothesis is made exactly
--tokens long: ours ``min_len = max_len_b = tokens``; HF ``min_new_tokens = tokens + 1``,
``max_new_tokens = tokens + 2`` (HF counts the forced tag as a new token, and the eos).
HF also gets ``suppress_tokens=[1]`` (we never emit pad), ``forced_eos_token_id=2``,
``length_penalty=1.0``, ``early_stopping=True`` (fairseq's: stop at ``beam`` finished).
Greedy output must agree. Beam tops may differ: HF's forced eos at max length scores 0, ours
(fairseq) the model's log p(eos) of each hypothesis (see ``xlsr.models.hf_st``); with every
hypothesis of the same length the length normalisations rank alike. End to end, a padded
utterance's memory differs (HF's adapter does not mask padding), so outputs may differ there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from xlsr.decode.st_search import SearchConfig, beam_search, greedy_search
from xlsr.models.config import xlsr_mini
from xlsr.models.st import StModel, st_tiny
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config, write_hf_st_dir

TAG = 5  # the forced "language tag" after </s>
EOS = 2


def build(args, transformers):
    """Our StModel and the HF SpeechEncoderDecoderModel with the same weights, both eval."""
    enc_cfg = xlsr_mini() if args.encoder == "xlsr_mini" else tiny_config()
    cfg = st_tiny(args.vocab, encoder_proj_layer_norm=True)  # HF's adapter.proj has its LN
    model = StModel(random_encoder(enc_cfg, seed=args.seed), cfg).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_hf_st_dir(model, Path(tmp) / "hf", forced_bos_token_id=TAG)
        hf = transformers.SpeechEncoderDecoderModel.from_pretrained(path).eval()
    return model, hf


def hf_kwargs(args, beam: int):
    kw = dict(
        num_beams=beam,
        do_sample=False,
        max_new_tokens=args.tokens + 2,
        min_new_tokens=args.tokens + 1,
        forced_bos_token_id=TAG,
        forced_eos_token_id=EOS,
        suppress_tokens=[1],
    )
    if beam > 1:
        kw.update(length_penalty=1.0, early_stopping=True, num_return_sequences=1)
    return kw


def hf_tokens(seqs) -> list:
    """HF's sequences (B, L) -> per utterance the tokens after ``</s> <tag>``, without eos."""
    out = []
    for seq in seqs.tolist():
        assert seq[:2] == [EOS, TAG], seq[:3]
        seq = seq[2:]
        out.append(seq[: seq.index(EOS)] if EOS in seq else seq)
    return out


def runners(args, model, hf, wav, lengths, beam: int):
    """{(mode, side): fn() -> per-utterance tokens} for one search (beam 1 = greedy)."""
    from transformers.modeling_outputs import BaseModelOutput

    b = wav.shape[0]
    prefix = torch.tensor([[EOS, TAG]] * b)
    mask = (torch.arange(wav.shape[1])[None] < lengths[:, None]).long()
    cfg = SearchConfig(beam=beam, nbest=1, max_len_b=args.tokens, min_len=args.tokens)
    kw = hf_kwargs(args, beam)
    memory, memory_lengths = model.encode_for_decoder(wav, lengths)
    hf_frames = hf.encoder._get_feature_vector_attention_mask(memory.shape[1], mask).sum(1)
    assert torch.equal(hf_frames, memory_lengths), (hf_frames, memory_lengths)

    def ours(mem, mem_lengths):
        if beam == 1:
            return greedy_search(model, mem, mem_lengths, prefix, cfg)
        return [h[0][0] for h in beam_search(model, mem, mem_lengths, prefix, cfg)]

    def ours_e2e():
        return ours(*model.encode_for_decoder(wav, lengths))

    def theirs():
        enc = BaseModelOutput(last_hidden_state=memory)
        return hf_tokens(hf.generate(encoder_outputs=enc, attention_mask=mask, **kw))

    def theirs_e2e():
        return hf_tokens(hf.generate(input_values=wav, attention_mask=mask, **kw))

    return {
        ("search", "ours"): lambda: ours(memory, memory_lengths),
        ("search", "hf"): theirs,
        ("search", "hf1"): lambda: mask_once(hf, theirs),
        ("end to end", "ours"): ours_e2e,
        ("end to end", "hf"): theirs_e2e,
        ("end to end", "hf1"): lambda: mask_once(hf, theirs_e2e),
    }


def mask_once(hf, fn):
    """Runs ``fn`` with HF's encoder frame mask computed once per sample mask, not at every
    decoder step (``SpeechEncoderDecoderModel.forward`` calls the encoder's
    ``_get_feature_vector_attention_mask``, a cumsum over (batch x beams, samples), each
    step). Same result; it shows how much of HF's time that recomputation is."""
    compute, memo = hf.encoder._get_feature_vector_attention_mask, {}

    def cached(length, mask, add_adapter=None):
        key = (id(mask), length)
        if key not in memo:  # the mask object is kept below, so its id stays unique
            memo[key] = (mask, compute(length, mask, add_adapter))
        return memo[key][1]

    hf.encoder._get_feature_vector_attention_mask = cached
    try:
        return fn()
    finally:
        del hf.encoder._get_feature_vector_attention_mask


def measure(fns, iters: int):
    """Alternating timed runs after one warm-up: (median seconds per side, last outputs)."""
    times = {side: [] for side in fns}
    outputs = {side: fn() for side, fn in fns.items()}  # warm-up
    for _ in range(iters):
        for side, fn in fns.items():
            start = time.perf_counter()
            outputs[side] = fn()
            times[side].append(time.perf_counter() - start)
    return {side: statistics.median(t) for side, t in times.items()}, outputs


def table_row(beam: int, mode: str, med, out) -> str:
    ours, theirs = out[(mode, "ours")], out[(mode, "hf")]
    assert out[(mode, "hf1")] == theirs, "HF's output changed with the mask computed once"
    t_ours, t_hf, t_hf1 = (med[(mode, side)] for side in ("ours", "hf", "hf1"))
    agree = f"{sum(a == b for a, b in zip(ours, theirs))}/{len(ours)}"
    return (
        f"| {'greedy' if beam == 1 else f'beam {beam}'} | {mode} | {t_ours * 1000:.1f} ms | "
        f"{t_hf * 1000:.1f} ms | {sum(map(len, ours)) / t_ours:.0f} | "
        f"{sum(map(len, theirs)) / t_hf:.0f} | **{t_hf / t_ours:.2f}** | "
        f"{agree}{'' if beam == 1 else ' tops'} | {t_hf1 * 1000:.1f} ms | {t_hf1 / t_ours:.2f} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seconds", default="2,6", help="utterance lengths: uniform in [lo, hi] s")
    p.add_argument("--tokens", type=int, default=30, help="tokens per hypothesis (forced)")
    p.add_argument("--beams", default="4,5")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--vocab", type=int, default=500)
    p.add_argument("--encoder", default="xlsr_mini", choices=["xlsr_mini", "tiny"])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    try:
        import transformers
    except ImportError:
        sys.exit("bench_st_search needs transformers: run it with .venv-modern/bin/python")
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    model, hf = build(args, transformers)
    lo, hi = (float(x) for x in args.seconds.split(","))
    g = torch.Generator().manual_seed(args.seed)
    secs = lo + (hi - lo) * torch.rand(args.batch, generator=g)
    wav, lengths = padded_batch((secs * 16000).long().tolist(), seed=args.seed)
    print(
        f"{args.encoder} encoder + st_tiny decoder (vocab {args.vocab}), batch {args.batch} "
        f"({float(lengths.sum()) / 16000:.1f} s of audio, {lo:g}-{hi:g} s), {args.tokens} "
        f"tokens per hypothesis, torch {torch.__version__}, transformers "
        f"{transformers.__version__}, {torch.get_num_threads()} threads, median of {args.iters}"
    )
    print(
        "| search | mode | ours | HF | ours tok/s | HF tok/s | speed ours/HF | outputs agree "
        "| HF, mask once | speed ours/(HF, mask once) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for beam in [1] + [int(k) for k in args.beams.split(",")]:
        fns = runners(args, model, hf, wav, lengths, beam)
        with torch.no_grad():
            med, out = measure(fns, args.iters)
        for mode in ("search", "end to end"):
            print(table_row(beam, mode, med, out))


if __name__ == "__main__":
    main()
