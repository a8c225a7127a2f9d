"""Greedy and beam search over the ST decoder: against an exhaustive search, batched against
per-utterance, max/min lengths, n-best order and the length penalty."""

import itertools
import math

import pytest
import torch

from xlsr.decode.st_search import SearchConfig, beam_search, greedy_search, max_lengths
from xlsr.models.st import StConfig, StModel
from xlsr.testing.checkpoints import padded_batch, random_encoder, tiny_config

PAD, EOS, LANG = 1, 2, 5
D = 32
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def tiny_st(vocab_size=8, max_positions=32, seed=0):
    """A random ST model whose decoder gives peaked, input-dependent distributions."""
    cfg = StConfig(
        vocab_size=vocab_size,
        decoder_embed_dim=D,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_embed_dim=64,
        max_target_positions=max_positions,
        adaptor_layers=0,
        encoder_proj=True,
    )
    model = StModel(random_encoder(tiny_config(), seed=1), cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g) + (p.dim() == 1) * 0.5)
        eos = model.decoder.embed_tokens.weight[EOS]
        model.decoder.layer_norm.bias += 2.0 * eos / eos.dot(eos)  # eos logit + 2: some end
    return model.eval()


@pytest.fixture(scope="module")
def model():
    return tiny_st()


def inputs(lengths, seed=0):
    """Random memory (B, max(lengths), D) with garbage in the padded frames, and the prefix
    ``</s> <lang>`` per utterance."""
    g = torch.Generator().manual_seed(seed)
    memory = torch.randn(len(lengths), max(lengths), D, generator=g)
    for i, n in enumerate(lengths):
        memory[i, n:] = 100.0
    prefix = torch.tensor([[EOS, LANG]] * len(lengths))
    return memory, torch.tensor(lengths), prefix


def sequence_scores(model, memory, prefix, seqs, len_penalty):
    """Normalised scores of ``seqs`` (each ended by eos) from the full teacher-forced forward."""
    width = prefix.shape[1] + max(map(len, seqs))
    inp = torch.full((len(seqs), width), PAD)
    inp[:, : prefix.shape[1]] = prefix[0]
    for i, s in enumerate(seqs):
        inp[i, prefix.shape[1] : prefix.shape[1] + len(s)] = torch.tensor(s, dtype=torch.long)
    mem = memory.expand(len(seqs), -1, -1)
    lens = torch.full((len(seqs),), memory.shape[1])
    lprobs = model.decoder_logits(mem, lens, inp).log_softmax(-1)
    scores = []
    for i, s in enumerate(seqs):
        target = list(s) + [EOS]
        pos = torch.arange(len(target)) + prefix.shape[1] - 1
        total = lprobs[i, pos, torch.tensor(target)].sum()
        scores.append(float(total) / len(target) ** len_penalty)
    return scores


def test_config_refusals_name_the_option():
    for kw, option in [
        ({"beam": 0}, "--beam"),
        ({"nbest": 3, "beam": 2}, "--nbest"),
        ({"len_penalty": math.nan}, "--lenpen"),
        ({"max_len_a": -1.0}, "--max-len-a"),
        ({"max_len_b": -1}, "--max-len-b"),
        ({"min_len": -1}, "--min-len"),
    ]:
        with pytest.raises(ValueError, match=option):
            SearchConfig(**kw)


def test_input_refusals_name_the_shape(model):
    memory, lengths, prefix = inputs([4, 3])
    with pytest.raises(ValueError, match=r"prefix must be \(batch=2"):
        beam_search(model, memory, lengths, prefix[:1], SearchConfig())
    with pytest.raises(ValueError, match="memory_lengths"):
        greedy_search(model, memory, lengths[:1], prefix, SearchConfig())


@pytest.mark.parametrize("len_penalty", [1.0, 0.0])
def test_greedy_equals_beam_of_one(model, len_penalty):
    memory, lengths, prefix = inputs([7, 3, 5, 6], seed=1)
    cfg = SearchConfig(beam=1, len_penalty=len_penalty, max_len_b=12)
    with torch.no_grad():
        greedy = greedy_search(model, memory, lengths, prefix, cfg)
        beam = beam_search(model, memory, lengths, prefix, cfg)
    # invariant: with one beam the search follows the argmax and stops at its first eos
    assert [hyps[0][0] for hyps in beam] == greedy
    assert any(0 < len(g) < 12 for g in greedy)  # some end by eos, not by the max length


@pytest.mark.parametrize("len_penalty", [1.0, 0.5, -0.5])
def test_wide_beam_finds_the_exhaustive_best(model, len_penalty):
    memory, lengths, prefix = inputs([5], seed=2)
    tokens = [t for t in range(8) if t not in (PAD, EOS)]  # 6 tokens, lengths 1..4
    seqs = [s for n in range(1, 5) for s in itertools.product(tokens, repeat=n)]
    assert len(seqs) == 6 + 36 + 216 + 1296
    cfg = SearchConfig(beam=len(seqs), nbest=5, len_penalty=len_penalty, max_len_b=4)
    with torch.no_grad():
        scores = sequence_scores(model, memory, prefix, seqs, len_penalty)
        (found,) = beam_search(model, memory, lengths, prefix, cfg)
    best = sorted(range(len(seqs)), key=lambda i: -scores[i])[:5]
    # invariant: a beam as large as the hypothesis space is an exhaustive search: the same
    # 5 best sequences, with their full-forward scores sum log p / (n + 1) ** len_penalty
    assert [tuple(seq) for seq, _ in found] == [seqs[i] for i in best]
    assert [s for _, s in found] == pytest.approx([scores[i] for i in best], abs=1e-4)


def test_batch_equals_each_utterance_alone(model):
    lengths = [6, 2, 9, 4]
    memory, mem_lengths, prefix = inputs(lengths, seed=3)
    prefix[1, 1] = 6  # another target language for one utterance
    cfg = SearchConfig(beam=3, nbest=3, max_len_a=0.5, max_len_b=3)
    with torch.no_grad():
        batch = beam_search(model, memory, mem_lengths, prefix, cfg)
        greedy = greedy_search(model, memory, mem_lengths, prefix, cfg)
        for i, n in enumerate(lengths):
            args = (memory[i : i + 1, :n], mem_lengths[i : i + 1], prefix[i : i + 1])
            alone = beam_search(model, *args, cfg)[0]
            # invariant: neither the other utterances nor padding change the results
            assert [seq for seq, _ in alone] == [seq for seq, _ in batch[i]]
            assert [s for _, s in alone] == pytest.approx([s for _, s in batch[i]], abs=1e-5)
            assert greedy_search(model, *args, cfg)[0] == greedy[i]


@pytest.mark.parametrize("device", DEVICES)
def test_from_waveforms_batch_equals_alone(device):
    m = tiny_st(seed=1).to(device)
    wav, lengths = padded_batch([4000, 2400, 3200], seed=2)
    wav, lengths = wav.to(device), lengths.to(device)
    prefix = torch.tensor([[EOS, LANG], [EOS, 6], [EOS, LANG]], device=device)
    cfg = SearchConfig(beam=4, nbest=2, max_len_a=0.5, max_len_b=2)
    with torch.no_grad():
        memory, mem_lengths = m.encode_for_decoder(wav, lengths)
        batch = beam_search(m, memory, mem_lengths, prefix, cfg)
        greedy = greedy_search(m, memory, mem_lengths, prefix, cfg)
        for i, n in enumerate(lengths.tolist()):
            mem, mem_len = m.encode_for_decoder(wav[i : i + 1, :n], lengths[i : i + 1])
            alone = beam_search(m, mem, mem_len, prefix[i : i + 1], cfg)[0]
            # invariant: waveform padding and batching change neither the n-best nor greedy
            assert [seq for seq, _ in alone] == [seq for seq, _ in batch[i]]
            assert [s for _, s in alone] == pytest.approx([s for _, s in batch[i]], abs=1e-4)
            assert greedy_search(m, mem, mem_len, prefix[i : i + 1], cfg)[0] == greedy[i]
    assert len({len(h[0][0]) for h in batch}) > 1  # the max lengths differ per utterance


def test_max_length_is_a_times_frames_plus_b_capped_by_positions(model):
    memory, lengths, prefix = inputs([6, 2, 9], seed=4)
    cfg = SearchConfig(beam=2, max_len_a=0.5, max_len_b=1, min_len=100)
    # invariant: int(0.5 * frames + 1) tokens; with min_len above it, the forced eos wins
    assert max_lengths(model, lengths, 2, cfg) == [4, 2, 5]
    with torch.no_grad():
        greedy = greedy_search(model, memory, lengths, prefix, cfg)
        beam = beam_search(model, memory, lengths, prefix, cfg)
    assert [len(g) for g in greedy] == [4, 2, 5]
    assert [len(h[0][0]) for h in beam] == [4, 2, 5]
    # invariant: never more than max_target_positions - prefix tokens (32 - 2)
    cfg = SearchConfig(beam=2, max_len_b=1000, min_len=1000)
    assert max_lengths(model, lengths, 2, cfg) == [30, 30, 30]
    with torch.no_grad():
        assert [len(g) for g in greedy_search(model, memory, lengths, prefix, cfg)] == [30] * 3
        assert [len(h[0][0]) for h in beam_search(model, memory, lengths, prefix, cfg)] == [30] * 3
    # invariant: with max length 0 the output is empty
    cfg = SearchConfig(max_len_b=0)
    with torch.no_grad():
        assert greedy_search(model, memory, lengths, prefix, cfg) == [[], [], []]
        assert [h[0][0] for h in beam_search(model, memory, lengths, prefix, cfg)] == [[]] * 3


def test_min_len_and_pad(model):
    memory, lengths, prefix = inputs([6, 5], seed=5)
    with torch.no_grad():
        for min_len in (0, 3, 6):
            cfg = SearchConfig(beam=4, nbest=4, min_len=min_len, max_len_b=8)
            results = beam_search(model, memory, lengths, prefix, cfg)
            greedy = greedy_search(model, memory, lengths, prefix, cfg)
            seqs = [seq for hyps in results for seq, _ in hyps] + greedy
            # invariant: no eos before min_len, pad and eos never inside an output
            assert all(min_len <= len(s) <= 8 for s in seqs)
            assert all(PAD not in s and EOS not in s for s in seqs)


def test_nbest_is_ordered_and_scored(model):
    memory, lengths, prefix = inputs([7, 4], seed=6)
    cfg = SearchConfig(beam=6, nbest=6, max_len_b=6)
    with torch.no_grad():
        results = beam_search(model, memory, lengths, prefix, cfg)
        for i, hyps in enumerate(results):
            seqs = [seq for seq, _ in hyps]
            mem = memory[i : i + 1, : int(lengths[i])]
            ref = sequence_scores(model, mem, prefix[i : i + 1], seqs, 1.0)
            # invariant: nbest distinct hypotheses, best first, each with its true score
            assert len(hyps) == 6 and len(set(map(tuple, seqs))) == 6
            assert [s for _, s in hyps] == sorted((s for _, s in hyps), reverse=True)
            assert [s for _, s in hyps] == pytest.approx(ref, abs=1e-4)


class TableModel:
    """A decoder stub: log-probs of the next token looked up by the tokens after the prefix
    (anything not listed gets -20), so scores are known exactly."""

    table = {
        (): {3: -0.7, 4: -0.5},
        (3,): {EOS: -0.7},  # short: [3], sum -1.4 over 2 tokens
        (4,): {4: -0.5},
        (4, 4): {4: -0.25},
        (4, 4, 4): {EOS: -0.25},  # long: [4, 4, 4], sum -1.5 over 4 tokens
    }

    def __init__(self):
        self.cfg = StConfig(vocab_size=6, max_target_positions=32)

    def decode_step(self, memory, memory_lengths, tokens_so_far, cache=None):
        rows = []
        for seq in tokens_so_far[:, 2:].tolist():
            row = torch.full((6,), -20.0)
            for token, lp in self.table.get(tuple(seq), {}).items():
                row[token] = lp
            rows.append(row)
        return torch.stack(rows), {"length": tokens_so_far.shape[1], "layers": []}


def test_len_penalty_ranks_by_sum_over_length_power():
    stub = TableModel()
    memory, lengths, prefix = inputs([3], seed=7)
    ranked = {}
    for len_penalty in (0.0, 1.0):
        cfg = SearchConfig(beam=2, nbest=2, len_penalty=len_penalty, max_len_b=6)
        ranked[len_penalty] = beam_search(stub, memory, lengths, prefix, cfg)[0]
    # invariant: len_penalty 0 ranks by the sum (-1.4 > -1.5), 1 by the mean (-1.5 / 4 >
    # -1.4 / 2); scores are sum / (tokens + eos) ** len_penalty
    assert ranked[0.0] == [([3], pytest.approx(-1.4)), ([4, 4, 4], pytest.approx(-1.5))]
    assert ranked[1.0] == [([4, 4, 4], pytest.approx(-0.375)), ([3], pytest.approx(-0.7))]
    greedy = greedy_search(stub, memory, lengths, prefix, SearchConfig(max_len_b=6))
    assert greedy == [[4, 4, 4]]


def _brute_ctc(log_probs, labels, blank=0):
    """log p_ctc(labels) by summing every frame alignment (T <= 6): independent of torch."""
    t, v = log_probs.shape
    total = -math.inf
    for path in itertools.product(range(v), repeat=t):
        collapsed = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        if [k for k in collapsed if k != blank] == list(labels):
            s = sum(float(log_probs[i, k]) for i, k in enumerate(path))
            total = max(total, s) + math.log1p(math.exp(-abs(total - s)))
    return total


def test_ctc_log_likelihoods_equal_the_sum_over_alignments():
    # Invariant: the CTC score of a hypothesis is the log of the summed probability of
    # every alignment of it (blank 0), -inf where it cannot be emitted in the frames.
    from xlsr.decode.st_search import ctc_log_likelihoods

    torch.manual_seed(0)
    lp = torch.randn(6, 4).log_softmax(-1)
    hyps = [[1], [1, 2], [2, 2], [3, 1, 3], [1, 1, 1, 1]]
    got = ctc_log_likelihoods(lp, 5, hyps)
    for h, g in zip(hyps, got):
        want = _brute_ctc(lp[:5], h)
        assert (g == want == -math.inf) or g == pytest.approx(want, abs=1e-5), h
    assert got[-1] == -math.inf  # four equal labels need seven frames


def test_joint_ctc_rescore_interpolates_and_reorders():
    # Invariant: weight 0 keeps the attention order and scores; weight 1 ranks by the CTC
    # log-likelihood normalised by (n + 1) ** len_penalty; in between the mix.
    from xlsr.decode.st_search import ctc_log_likelihoods, joint_ctc_rescore

    torch.manual_seed(1)
    lp = torch.randn(6, 4).log_softmax(-1)
    nbest = [([1, 2], -0.5), ([2], -0.7), ([3, 3], -0.9)]
    assert joint_ctc_rescore(nbest, lp, 6, 0.0) == nbest
    ctc = ctc_log_likelihoods(lp, 6, [h for h, _ in nbest])
    for w in (0.3, 1.0):
        got = joint_ctc_rescore(nbest, lp, 6, w, len_penalty=1.0)
        want = sorted(
            ((h, (1 - w) * a + w * c / (len(h) + 1)) for (h, a), c in zip(nbest, ctc)),
            key=lambda x: -x[1],
        )
        assert [h for h, _ in got] == [h for h, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want])
    with pytest.raises(ValueError, match="ctc weight must be in"):
        joint_ctc_rescore(nbest, lp, 6, 1.5)
