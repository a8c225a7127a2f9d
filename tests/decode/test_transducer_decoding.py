"""Transducer decoding methods (xlsr.decode.transducer) on constructed and random heads.

A "head" is the decoding interface of TransducerModel (decoder + joiner); decoding starts from
encoder output, so most tests give hand-made frames and skip the encoder.
"""

import functools
import itertools
import math
from typing import Callable, List, Sequence

import pytest
import torch
from torch import Tensor, nn

from xlsr.decode import transducer
from xlsr.models.transducer import Decoder, Joiner, TransducerConfig, TransducerModel

K2_REASON = "k2: k2 lane only (k2 1.23.4 needs Python 3.9 + torch 1.13.1)"
SCALE = 10.0  # output_linear gain of the direct head: log-probs must lie in (-SCALE, 0]
WIDE = dict(beam=100.0, max_states=10_000, max_contexts=10_000)  # no pruning on tiny cases


class Head(nn.Module):
    """Decoder and joiner as in TransducerModel, without the encoder."""

    def __init__(self, vocab: int, encoder_dim: int, context_size: int = 2, dim: int = 8):
        super().__init__()
        self.decoder = Decoder(vocab, dim, context_size)
        self.joiner = Joiner(encoder_dim, dim, dim, vocab)


def _direct_head(vocab: int, context_size: int = 2) -> Head:
    """A head whose joiner turns frame ``atanh(log_probs / SCALE)`` into logits ``log_probs``
    whatever the decoder says: encoder_proj = identity, decoder_proj = 0, output = SCALE * I."""
    head = Head(vocab, vocab, context_size, dim=vocab)
    eye = torch.eye(vocab)
    j = head.joiner
    with torch.no_grad():
        for linear, weight in (
            (j.encoder_proj, eye),
            (j.decoder_proj, 0 * eye),
            (j.output_linear, SCALE * eye),
        ):
            linear.weight.copy_(weight)
            linear.bias.zero_()
    return head.eval()


def _frames(log_probs: Tensor) -> Tensor:
    """Encoder frames (T, V) for the direct head from log-probabilities (T, V)."""
    return torch.atanh(log_probs / SCALE)


def _peaked(symbols: Sequence[int], vocab: int, peak: float = 0.9) -> Tensor:
    """Direct-head frames: frame t gives ``symbols[t]`` (0 = blank) probability ``peak``, the
    other symbols share the rest."""
    probs = torch.full((len(symbols), vocab), (1 - peak) / (vocab - 1))
    probs[torch.arange(len(symbols)), torch.tensor(symbols)] = peak
    return _frames(probs.log())


def _spell(tokens: Sequence[int]) -> List[int]:
    """Frame symbols for ``tokens``: each token then a blank, and a closing blank (k2's fast
    beam search emits nothing on the last frame)."""
    return [s for tok in tokens for s in (tok, 0)] + [0]


def _batch(utterances: Sequence[Tensor]):
    """Pads (T_i, D) utterances into (B, T, D) with junk after each end; returns lengths."""
    lens = torch.tensor([u.shape[0] for u in utterances])
    torch.manual_seed(123)
    batch = 5 * torch.randn(len(utterances), int(lens.max()), utterances[0].shape[1])
    for i, u in enumerate(utterances):
        batch[i, : u.shape[0]] = u
    return batch, lens


def _random_head(vocab: int, context_size: int, seed: int, encoder_dim: int = 8) -> Head:
    torch.manual_seed(seed)
    head = Head(vocab, encoder_dim, context_size)
    with torch.no_grad():  # peakier than the default init, and a decoder that matters
        head.joiner.output_linear.weight.mul_(6.0)
        head.joiner.decoder_proj.weight.mul_(3.0)
        head.decoder.embedding.weight.mul_(3.0)
    return head.eval()


@torch.no_grad()
def _sequence_score(head: Head, frames: Tensor, seq: Sequence[int], reduce=torch.logaddexp):
    """Log-probability of ``seq`` on ``frames`` (T, encoder_dim) under the one-symbol-per-frame
    topology (each frame emits a blank or the next token; all tokens by the end): summed over
    alignments (``reduce=torch.logaddexp``) or of the best one (``torch.maximum``). A plain DP,
    independent of the decoding code."""
    ctx, blank = head.decoder.context_size, head.decoder.blank_id
    full = [blank] * ctx + list(seq)
    contexts = torch.tensor([full[u : u + ctx] for u in range(len(seq) + 1)])
    dec = head.decoder(contexts, need_pad=False)  # (U + 1, 1, decoder_dim)
    logits = head.joiner(frames[:, None], dec[None, :, 0])  # (T, U + 1, V)
    lp = logits.double().log_softmax(-1)
    alpha = torch.full((len(seq) + 1,), -math.inf, dtype=torch.float64)
    alpha[0] = 0.0
    for t in range(frames.shape[0]):
        stay = alpha + lp[t, :, blank]
        move = torch.full_like(alpha, -math.inf)
        for u, tok in enumerate(seq):
            move[u + 1] = alpha[u] + lp[t, u, tok]
        alpha = reduce(stay, move)
    return float(alpha[-1])


def _all_sequences(vocab: int, max_len: int):
    for n in range(max_len + 1):
        yield from itertools.product(range(1, vocab), repeat=n)


# ---- no k2: greedy and modified beam search (both lanes) ----


def test_greedy_and_modified_beam_search_find_the_constructed_path():
    # Invariant: where frame t gives symbol s_t probability 0.9, the best path emits exactly
    # the non-blank s_t in order, for utterances of different lengths in one batch.
    vocab, seqs = 6, [[3, 1, 1, 5], [2], [4, 4, 2, 1, 3]]
    x, lens = _batch([_peaked(_spell(s), vocab) for s in seqs])
    head = _direct_head(vocab)
    assert transducer.greedy_search(head, x, lens) == seqs
    assert transducer.modified_beam_search(head, x, lens, beam=4) == seqs


def test_an_empty_batch_gives_no_results():
    # Invariant: a batch without utterances decodes to an empty list, not an error.
    x, lens = torch.zeros(0, 3, 5), torch.zeros(0, dtype=torch.long)
    assert transducer.greedy_search(_direct_head(5), x, lens) == []
    assert transducer.modified_beam_search(_direct_head(5), x, lens) == []


def test_greedy_search_emits_up_to_max_sym_per_frame_tokens_on_a_frame():
    # Invariant: with a context-independent joiner, greedy stays on a frame whose best symbol is
    # a token until it has emitted max_sym_per_frame of them; a blank moves on at once.
    head = _direct_head(5)
    x = _peaked([2, 0, 3], 5)[None]
    lens = torch.tensor([3])
    assert transducer.greedy_search(head, x, lens, max_sym_per_frame=1) == [[2, 3]]
    assert transducer.greedy_search(head, x, lens, max_sym_per_frame=3) == [[2, 2, 2, 3, 3, 3]]


def test_modified_beam_search_merges_alignments_that_greedy_splits():
    # Invariant: hypotheses with equal tokens add up. Two frames of P(blank, a, b) =
    # (.40, .35, .25): the best alignment is blank blank (.16), so greedy says nothing, but
    # "a" has two alignments, a-blank and blank-a, together .28, and beam search finds it.
    probs = torch.tensor([[0.40, 0.35, 0.25]] * 2)
    head, x, lens = _direct_head(3), _frames(probs.log())[None], torch.tensor([2])
    assert transducer.greedy_search(head, x, lens) == [[]]
    assert transducer.modified_beam_search(head, x, lens, beam=4) == [[1]]
    assert math.isclose(math.exp(_sequence_score(head, x[0], [1])), 0.28, rel_tol=1e-6)


@pytest.mark.parametrize("context_size", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_modified_beam_search_with_a_beam_holding_every_hypothesis_is_exact(seed, context_size):
    # Invariant: with no pruning (beam >= all distinct prefixes) and merging, a hypothesis's
    # score is the log-sum over all its alignments, so the result is the sequence with the
    # highest probability, found here by brute force over every sequence of <= T tokens.
    vocab, frames = 4, 4
    head = _random_head(vocab, context_size, seed)
    torch.manual_seed(100 + seed)
    x = torch.randn(1, frames, 8)
    scores = {s: _sequence_score(head, x[0], s) for s in _all_sequences(vocab, frames)}
    best = max(scores, key=scores.get)
    assert transducer.modified_beam_search(head, x, torch.tensor([frames]), beam=200) == [
        list(best)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_modified_beam_search_scores_at_least_greedy(seed):
    # Invariant: beam 1 is greedy search (one symbol per frame); beam 4 keeps more alignments
    # and merges them, and its result is at least as probable as greedy's (sequence
    # log-probability summed over alignments, computed by the DP). Not a theorem for beam 4
    # (pruning may drop greedy's prefix), but it holds on these random heads.
    vocab, frames = 6, 10
    head = _random_head(vocab, 2, seed)
    torch.manual_seed(200 + seed)
    x, lens = torch.randn(1, frames, 8), torch.tensor([frames])
    greedy = transducer.greedy_search(head, x, lens)
    assert transducer.modified_beam_search(head, x, lens, beam=1) == greedy
    beam = transducer.modified_beam_search(head, x, lens, beam=4)
    assert _sequence_score(head, x[0], beam[0]) >= _sequence_score(head, x[0], greedy[0]) - 1e-9


def _per_utterance(decode: Callable, x: Tensor, lens: Tensor) -> list:
    return [decode(x[i : i + 1, : int(n)], lens[i : i + 1])[0] for i, n in enumerate(lens)]


def _random_batch(encoder_dim: int = 8):
    torch.manual_seed(7)
    return _batch([torch.randn(n, encoder_dim) for n in (7, 3, 9, 5)])


@pytest.mark.parametrize(
    "decode",
    [
        lambda m, x, n: transducer.greedy_search(m, x, n),
        lambda m, x, n: transducer.greedy_search(m, x, n, max_sym_per_frame=2),
        lambda m, x, n: transducer.modified_beam_search(m, x, n, beam=4),
    ],
    ids=["greedy", "greedy_max_sym_2", "modified_beam"],
)
def test_batched_results_equal_per_utterance_results(decode):
    # Invariant: an utterance decodes the same alone or in a padded batch, in batch order;
    # frames past its length (junk here) are never used.
    head = _random_head(6, 2, seed=3)
    x, lens = _random_batch()
    batched = decode(head, x, lens)
    assert batched == _per_utterance(functools.partial(decode, head), x, lens)
    assert any(batched) and all(0 < tok < 6 for hyp in batched for tok in hyp)


def test_decoding_a_real_transducer_model_output():
    # Invariant: TransducerModel's own encoder output and heads fit the decoding functions.
    from xlsr.testing.checkpoints import random_encoder, tiny_config

    cfg = TransducerConfig(vocab_size=8, decoder_dim=16, joiner_dim=16, context_size=2)
    model = TransducerModel(random_encoder(tiny_config()), cfg).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        encoder_out, lens = model(torch.randn(2, 4000), torch.tensor([4000, 2500]))
    for decode in (transducer.greedy_search, transducer.modified_beam_search):
        hyps = decode(model, encoder_out, lens)
        assert len(hyps) == 2 and all(0 < tok < 8 for hyp in hyps for tok in hyp)
        assert hyps == _per_utterance(functools.partial(decode, model), encoder_out, lens)


_X = torch.zeros(1, 10, 5)  # 10 frames of 5 channels, what _direct_head(5) takes
BAD_INPUTS = [
    (
        torch.zeros(10, 5),
        torch.tensor([10]),
        {},
        r"encoder_out must be \(batch, frames, encoder_dim\), got \(10, 5\)",
    ),
    (
        torch.zeros(1, 10, 4),
        torch.tensor([10]),
        {},
        "encoder_out has 4 channels, the joiner expects 5",
    ),
    (
        torch.zeros(2, 10, 5),
        torch.tensor([10]),
        {},
        r"encoder_out_lens must be \(batch,\) = \(2,\), got \(1,\)",
    ),
    (_X, torch.tensor([11]), {}, r"encoder_out_lens must lie in \[1, 10\].*got \[11\]"),
    (_X, torch.tensor([0]), {}, r"encoder_out_lens must lie in \[1, 10\]"),
    (
        _X,
        torch.tensor([9.5]),
        {},
        "encoder_out_lens must hold integer frame counts, got torch.float",
    ),
]


@pytest.mark.parametrize(
    "x, lens, kwargs, match",
    BAD_INPUTS
    + [
        (_X, torch.tensor([10]), {"beam": 0}, "beam must be >= 1, got 0"),
        (_X, torch.tensor([10]), {"temperature": 0.0}, "temperature must be > 0, got 0.0"),
    ],
)
def test_modified_beam_search_rejects_bad_inputs(x, lens, kwargs, match):
    # Invariant: malformed batches and settings fail up front, naming what was found.
    with pytest.raises(ValueError, match=f"modified_beam_search: {match}"):
        transducer.modified_beam_search(_direct_head(5), x, lens, **kwargs)


@pytest.mark.parametrize(
    "x, lens, kwargs, match",
    BAD_INPUTS
    + [
        (_X, torch.tensor([10]), {"max_sym_per_frame": 0}, "max_sym_per_frame must be >= 1, got 0"),
    ],
)
def test_greedy_search_rejects_bad_inputs(x, lens, kwargs, match):
    # Invariant: as for beam search.
    with pytest.raises(ValueError, match=f"greedy_search: {match}"):
        transducer.greedy_search(_direct_head(5), x, lens, **kwargs)


# ---- k2 lane: fast beam search (trivial graph and LG) ----


@pytest.fixture
def k2():
    return pytest.importorskip("k2", reason=K2_REASON)


def test_fast_beam_search_finds_the_constructed_path(k2):
    # Invariant: as for greedy search; the trivial graph lets any token sequence through.
    vocab, seqs = 6, [[3, 1, 1, 5], [2], [4, 4, 2, 1, 3]]
    x, lens = _batch([_peaked(_spell(s), vocab) for s in seqs])
    assert transducer.fast_beam_search_one_best(_direct_head(vocab), None, x, lens) == seqs


def test_fast_beam_search_emits_nothing_on_the_last_frame(k2):
    # Invariant (k2 1.23.4): the last frame of an utterance becomes the lattice's final arcs,
    # so a token peaked there is not emitted (greedy search does emit it).
    head, x, lens = _direct_head(5), _peaked([2, 0, 3], 5)[None], torch.tensor([3])
    assert transducer.greedy_search(head, x, lens) == [[2, 3]]
    assert transducer.fast_beam_search_one_best(head, None, x, lens) == [[2]]


@pytest.mark.parametrize("context_size", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wide_fast_beam_search_gives_the_best_alignment(k2, seed, context_size):
    # Invariant: without pruning, the lattice's best path is the best single alignment (max,
    # not sum, over alignments) over all frames but the last, found here by brute force.
    vocab, frames = 4, 5
    head = _random_head(vocab, context_size, seed)
    torch.manual_seed(300 + seed)
    x = torch.randn(1, frames, 8)
    scores = {
        s: _sequence_score(head, x[0, :-1], s, torch.maximum)
        for s in _all_sequences(vocab, frames - 1)
    }
    best = max(scores, key=scores.get)
    assert transducer.fast_beam_search_one_best(head, None, x, torch.tensor([frames]), **WIDE) == [
        list(best)
    ]


def test_fast_beam_search_batched_equals_per_utterance(k2):
    # Invariant: as for greedy search.
    head = _random_head(6, 2, seed=3)
    x, lens = _random_batch()

    def decode(a, b):
        return transducer.fast_beam_search_one_best(head, None, a, b, **WIDE)

    batched = decode(x, lens)
    assert batched == _per_utterance(decode, x, lens) and any(batched)


def test_fast_beam_search_lattice_has_one_lattice_per_utterance(k2):
    # Invariant: the shared lattice holds the batch in order, with token labels < vocab.
    head = _random_head(6, 2, seed=3)
    x, lens = _random_batch()
    lattice = transducer.fast_beam_search_lattice(head, None, x, lens, **WIDE)
    assert lattice.shape[0] == 4
    assert int(lattice.labels.max()) < 6 and hasattr(lattice, "aux_labels")


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    pytest.importorskip("k2", reason=K2_REASON)
    from xlsr.graph.compile import load_fsa
    from xlsr.graph.lexicon import symbol_table
    from xlsr.testing.lang import make_tiny_lang_dir

    paths = make_tiny_lang_dir(tmp_path_factory.mktemp("lang"))
    tokens, words = symbol_table(paths["tokens.txt"]), symbol_table(paths["words.txt"])
    lexicon = dict(line.split(maxsplit=1) for line in paths["lexicon.txt"].read_text().splitlines())
    return {
        "LG": load_fsa(paths["LG.pt"]),
        "vocab": max(i for t, i in tokens.items() if not t.startswith("#")) + 1,
        "words": words,
        "spell": lambda sentence: [tokens[p] for w in sentence.split() for p in lexicon[w].split()],
    }


def test_fast_beam_search_through_LG_finds_the_spelt_words(lang):
    # Invariant: frames spelling a word sequence in the lang dir's tokens decode to those
    # words (n-best on LG) and tokens (one best on LG), in batch order; LG is not modified.
    sentences = ["one two three", "five six", "four"]
    x, lens = _batch([_peaked(_spell(lang["spell"](s)), lang["vocab"]) for s in sentences])
    head, LG = _direct_head(lang["vocab"]), lang["LG"]
    scores = LG.scores.clone()
    words = transducer.fast_beam_search_nbest_LG(head, LG, x, lens)
    assert words == [[lang["words"][w] for w in s.split()] for s in sentences]
    assert torch.equal(LG.scores, scores)
    tokens = transducer.fast_beam_search_one_best(head, LG, x, lens)
    assert tokens == [lang["spell"](s) for s in sentences]


def test_fast_beam_search_nbest_LG_batched_equals_per_utterance(lang):
    # Invariant: as for greedy search (random head over the lang dir's tokens).
    head = _random_head(lang["vocab"], 2, seed=5)
    x, lens = _random_batch()

    def decode(a, b):
        return transducer.fast_beam_search_nbest_LG(head, lang["LG"], a, b, **WIDE)

    batched = decode(x, lens)
    assert batched == _per_utterance(decode, x, lens) and any(batched)
    assert all(0 < w < len(lang["words"]) for hyp in batched for w in hyp)


def test_fast_methods_reject_bad_graphs_and_settings(lang, k2):
    # Invariant: graphs that do not fit the model, and bad settings, fail up front.
    head, x, lens = _direct_head(5), torch.zeros(1, 4, 5), torch.tensor([4])
    big = k2.trivial_graph(9)
    with pytest.raises(ValueError, match="token ids up to 9 but the model has vocab_size 5"):
        transducer.fast_beam_search_one_best(head, big, x, lens)
    with pytest.raises(ValueError, match=r"single FSA, got an FsaVec of shape \(1, None, None\)"):
        transducer.fast_beam_search_one_best(head, k2.create_fsa_vec([big]), x, lens)
    with pytest.raises(ValueError, match="fast_beam_search: max_states must be > 0, got 0"):
        transducer.fast_beam_search_one_best(head, None, x, lens, max_states=0)
    with pytest.raises(ValueError, match="fast_beam_search: encoder_out_lens must lie in"):
        transducer.fast_beam_search_one_best(head, None, x, torch.tensor([5]))
    acceptor = k2.Fsa.from_str("0 1 1 0.0\n1 2 -1 0.0\n2")
    with pytest.raises(ValueError, match="LG has no aux_labels"):
        transducer.fast_beam_search_nbest_LG(head, acceptor, x, lens)
    bad_settings = [
        ({"num_paths": 0}, "num_paths must be >= 1, got 0"),
        ({"ngram_lm_scale": -1.0}, "ngram_lm_scale must be >= 0, got -1.0"),
    ]
    for kwargs, match in bad_settings:
        with pytest.raises(ValueError, match=f"fast_beam_search_nbest_LG: {match}"):
            transducer.fast_beam_search_nbest_LG(head, lang["LG"], x, lens, **kwargs)
