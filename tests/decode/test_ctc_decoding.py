"""CTC decoding methods (xlsr.decode.ctc) on constructed posteriors over a tiny lang dir."""

from typing import Dict, List, Sequence, Union

import numpy as np
import pytest
import torch

from xlsr.decode import ctc
from xlsr.decode.nbest import sample_word_seqs

K2_REASON = "k2: k2 lane only (k2 1.23.4 needs Python 3.9 + torch 1.13.1)"
LM_SCALES = [0.0, 1.0]
Position = Union[int, Dict[int, float]]


def _posteriors(positions: Sequence[Position], vocab: int, peak: float = 0.9, blanks: int = 2):
    """(frames, vocab) CTC log-posteriors: per position 2 frames then ``blanks`` blank frames.

    A position is a token id (probability ``peak``) or {token id: probability} to split the
    frames between tokens; the rest of each frame is spread over the other tokens.
    """
    frames: List[Dict[int, float]] = []
    for pos in positions:
        probs = {pos: peak} if isinstance(pos, int) else pos
        frames += [probs, probs] + [{0: peak}] * blanks
    out = np.zeros((len(frames), vocab), dtype=np.float32)
    for i, probs in enumerate(frames):
        out[i] = (1 - sum(probs.values())) / (vocab - len(probs))
        out[i, list(probs)] = list(probs.values())
    return torch.from_numpy(np.log(out))


def _batch(utterances: List[torch.Tensor]):
    """Pads (frames, vocab) utterances into (batch, frames, vocab) with junk after the end."""
    lengths = torch.tensor([u.shape[0] for u in utterances])
    batch = torch.full((len(utterances), int(lengths.max()), utterances[0].shape[1]), -3.0)
    for i, u in enumerate(utterances):
        batch[i, : u.shape[0]] = u
    return batch, lengths


# ---- no k2: greedy search and word tables (both lanes) ----


def test_greedy_search_collapses_repeats_drops_blanks_and_ignores_padding():
    # Invariant: argmax per frame, runs of one token collapse to one, a blank between two equal
    # tokens keeps both, blanks are dropped, and frames past an utterance's length are unused.
    frames = [[3, 3, 0, 3, 5, 5, 0, 0, 2, 2], [7, 7, 0, 7, 4, 4, 4, 4, 4, 4]]
    log_probs = torch.nn.functional.one_hot(torch.tensor(frames), 9).float().log_softmax(-1)
    assert ctc.greedy_search(log_probs, torch.tensor([10, 4])) == [[3, 3, 5, 2], [7, 7]]


def test_ids_to_words():
    # Invariant: id i maps to the i-th symbol; an id outside the table is an error.
    table = ["<eps>", "<unk>", "one", "two"]
    assert ctc.ids_to_words([2, 3, 2], table) == ["one", "two", "one"]
    with pytest.raises(ValueError, match=r"ids_to_words: ids \[4\] outside the word table"):
        ctc.ids_to_words([2, 4], table)


@pytest.mark.parametrize(
    "log_probs, lengths, match",
    [
        (
            torch.zeros(10, 5),
            torch.tensor([10]),
            r"log_probs must be \(batch, frames, tokens\), got \(10, 5\)",
        ),
        (
            torch.zeros(2, 10, 5),
            torch.tensor([10]),
            r"lengths must be \(batch,\) = \(2,\), got \(1,\)",
        ),
        (torch.zeros(1, 10, 5), torch.tensor([11]), r"lengths must lie in \[1, 10\]"),
        (torch.zeros(1, 10, 5), torch.tensor([0]), r"lengths must lie in \[1, 10\]"),
        (torch.zeros(1, 10, 5), torch.tensor([9.5]), "lengths must hold integer frame counts"),
    ],
)
def test_greedy_search_rejects_bad_inputs(log_probs, lengths, match):
    # Invariant: malformed batches fail up front with the method's name and what was found.
    with pytest.raises(ValueError, match="greedy_search: " + match):
        ctc.greedy_search(log_probs, lengths)


# ---- k2 lane: H, HLG and G4 from a tiny lang dir ----


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    pytest.importorskip("k2", reason=K2_REASON)
    from xlsr.data.tokenizer import Tokenizer, read_symbols
    from xlsr.graph import lm
    from xlsr.graph.compile import load_fsa
    from xlsr.graph.lexicon import read_lexicon, symbol_table
    from xlsr.testing.lang import make_tiny_lang_dir

    paths = make_tiny_lang_dir(tmp_path_factory.mktemp("lang"))
    lang_dir = paths["words.txt"].parent
    lm.train_arpa(lang_dir / "lm.txt", lang_dir / "4gram.arpa", 4)
    G = lm.make_G(lang_dir / "4gram.arpa", paths["words.txt"], lang_dir / "G_4_gram.pt")
    tokens, words = symbol_table(paths["tokens.txt"]), symbol_table(paths["words.txt"])
    HLG = load_fsa(paths["HLG.pt"])
    HLG.lm_scores = HLG.scores.clone()  # so the rescoring methods need not copy HLG
    return {
        "tokens": tokens,
        "words": words,
        "word_list": read_symbols(paths["words.txt"]),
        "pron": dict(read_lexicon(paths["lexicon.txt"])),
        "vocab": Tokenizer(lang_dir / "tokenizer").vocab_size,
        "HLG": HLG,
        "G": G,
        "G4": ctc.prepare_rescoring_G(G, words["#0"]),
    }


def _token_ids(lang, sentence: str) -> List[int]:
    return [lang["tokens"][p] for w in sentence.split() for p in lang["pron"][w]]


def _word_ids(lang, sentence: str) -> List[int]:
    return [lang["words"][w] for w in sentence.split()]


def _decode_all(lang, log_probs, lengths, num_paths: int = 100) -> Dict[str, list]:
    """Every method's result; the rescoring methods once per scale in LM_SCALES."""
    HLG, G4 = lang["HLG"], lang["G4"]
    out = {
        "greedy_search": ctc.greedy_search(log_probs, lengths),
        "ctc_decoding": ctc.ctc_decoding(log_probs, lengths, lang["vocab"] - 1),
        "ctc_decoding_modified": ctc.ctc_decoding(
            log_probs, lengths, lang["vocab"] - 1, modified=True
        ),
        "one_best": ctc.one_best(HLG, log_probs, lengths),
        "nbest": ctc.nbest(HLG, log_probs, lengths, num_paths=num_paths),
    }
    rescored = {
        "nbest_rescoring": ctc.nbest_rescoring(
            HLG, G4, log_probs, lengths, lm_scales=LM_SCALES, num_paths=num_paths
        ),
        "whole_lattice_rescoring": ctc.whole_lattice_rescoring(
            HLG, G4, log_probs, lengths, lm_scales=LM_SCALES
        ),
    }
    for method, by_scale in rescored.items():
        assert list(by_scale) == [f"lm_scale_{s}" for s in LM_SCALES]
        out.update({f"{method}/{key}": hyps for key, hyps in by_scale.items()})
    return out


def _expected(lang, sentences: List[str], method: str) -> list:
    if method.startswith(("greedy", "ctc_decoding")):
        return [_token_ids(lang, s) for s in sentences]
    return [_word_ids(lang, s) for s in sentences]


@pytest.mark.k2
@pytest.mark.parametrize(
    "sentence", ["two three one", "four five six", "one", "three three one two"]
)
def test_every_method_decodes_clear_posteriors(lang, sentence):
    # Invariant: posteriors that clearly say a sentence decode to its tokens (greedy, H) and
    # to its words (HLG methods, at every LM scale), whatever the method.
    log_probs = _posteriors(_token_ids(lang, sentence), lang["vocab"])
    results = _decode_all(lang, *_batch([log_probs]))
    for method, hyps in results.items():
        assert hyps == _expected(lang, [sentence], method), method
    assert " ".join(ctc.ids_to_words(results["one_best"][0], lang["word_list"])) == sentence


@pytest.mark.k2
def test_batch_results_follow_input_order(lang):
    # Invariant: with different lengths (k2 sorts by length inside) every method returns its
    # results in the order of the input batch, and padding frames are not decoded.
    sentences = ["one", "three four five six", "two three one", "six five four"]
    utterances = [_posteriors(_token_ids(lang, s), lang["vocab"]) for s in sentences]
    for method, hyps in _decode_all(lang, *_batch(utterances)).items():
        assert hyps == _expected(lang, sentences, method), method


@pytest.mark.k2
def test_utterance_with_empty_lattice_gives_no_words_and_spares_the_batch(lang):
    # Invariant: posteriors no word can explain ("x" only, every other token impossible) give
    # an empty lattice; every HLG method returns [] for that utterance and still decodes the
    # others of the batch.
    impossible = torch.full((8, lang["vocab"]), -float("inf"))
    impossible[:, lang["tokens"]["x"]] = 0.0
    good = _posteriors(_token_ids(lang, "one two"), lang["vocab"])
    results = _decode_all(lang, *_batch([impossible, good]))
    for method, hyps in results.items():
        if not method.startswith(("greedy", "ctc_decoding")):
            assert hyps == [[], _word_ids(lang, "one two")], method


def _four_or_five(lang, p_four: float, p_five: float):
    """'two three X' where X's frames split between four (▁ f o u r) and five (▁ f i v e)."""
    positions: List[Position] = list(_token_ids(lang, "two three"))
    for a, b in zip(lang["pron"]["four"], lang["pron"]["five"]):
        ta, tb = lang["tokens"][a], lang["tokens"][b]
        positions.append(ta if ta == tb else {ta: p_four, tb: p_five})
    return _batch([_posteriors(positions, lang["vocab"])])


@pytest.mark.k2
@pytest.mark.parametrize("p_four, p_five", [(0.45, 0.45), (0.42, 0.48)])
def test_lm_decides_between_acoustically_ambiguous_words(lang, p_four, p_five):
    # Invariant: "two three four" and "two three five" are (nearly) equally likely
    # acoustically; the 4-gram (trained with "two three four" and "three four ..." but no
    # "three five") prefers "four", so a large LM scale gives "four", and where the acoustics
    # lean to "five", LM scale 0 (acoustics only) gives "five".
    four, five = _word_ids(lang, "two three four"), _word_ids(lang, "two three five")
    lm = ctc._lm_scores_of(lang["G4"], [[tuple(four), tuple(five)]])
    assert lm[0] > lm[1] + 1.0
    log_probs, lengths = _four_or_five(lang, p_four, p_five)
    args = (lang["HLG"], lang["G4"], log_probs, lengths)
    for by_scale in (
        ctc.nbest_rescoring(*args, lm_scales=[0.0, 5.0], num_paths=20),
        ctc.whole_lattice_rescoring(*args, lm_scales=[0.0, 5.0]),
    ):
        assert by_scale["lm_scale_5.0"] == [four]
        if p_five > p_four:
            assert by_scale["lm_scale_0.0"] == [five]


@pytest.mark.k2
def test_rescoring_switches_word_at_the_predicted_lm_scale(lang):
    # Invariant: rescored score = acoustic score + lm_scale * G4 score, with the first-pass LM
    # removed. "five" leads acoustically by 6 frames * log(0.48 / 0.42) and "four" leads in
    # G4 by d, so both methods give "five" below lm_scale = lead / d and "four" above it.
    four, five = _word_ids(lang, "two three four"), _word_ids(lang, "two three five")
    lm_four, lm_five = ctc._lm_scores_of(lang["G4"], [[tuple(four), tuple(five)]]).tolist()
    switch = 6 * np.log(0.48 / 0.42) / (lm_four - lm_five)
    scales = [0.0, 0.9 * switch, 1.1 * switch, 2.0]
    log_probs, lengths = _four_or_five(lang, 0.42, 0.48)
    args = (lang["HLG"], lang["G4"], log_probs, lengths)
    want = {f"lm_scale_{s}": [five if s < switch else four] for s in scales}
    assert ctc.nbest_rescoring(*args, lm_scales=scales, num_paths=20) == want
    assert ctc.whole_lattice_rescoring(*args, lm_scales=scales) == want
    # an HLG without lm_scores: the methods add them on a copy and give the same results
    plain = lang["HLG"].clone()
    del plain.lm_scores
    args = (plain, lang["G4"], log_probs, lengths)
    assert ctc.nbest_rescoring(*args, lm_scales=scales, num_paths=20) == want
    assert ctc.whole_lattice_rescoring(*args, lm_scales=scales) == want
    assert not hasattr(plain, "lm_scores")


@pytest.mark.k2
def test_nbest_with_one_path_returns_a_valid_path(lang):
    # Invariant: a single sampled path still gives a word sequence of the lattice: the
    # sentence for clear posteriors, one of the two candidates for ambiguous ones.
    clear = _batch([_posteriors(_token_ids(lang, "five one two"), lang["vocab"])])
    assert ctc.nbest(lang["HLG"], *clear, num_paths=1) == [_word_ids(lang, "five one two")]
    log_probs, lengths = _four_or_five(lang, 0.45, 0.45)
    candidates = [_word_ids(lang, "two three four"), _word_ids(lang, "two three five")]
    assert ctc.nbest(lang["HLG"], log_probs, lengths, num_paths=1)[0] in candidates
    rescored = ctc.nbest_rescoring(
        lang["HLG"], lang["G4"], log_probs, lengths, lm_scales=[1.0], num_paths=1
    )
    assert rescored["lm_scale_1.0"][0] in candidates


@pytest.mark.k2
def test_sampled_word_sequences_are_distinct_and_leave_the_lattice_as_it_was(lang):
    # Invariant: n-best sampling returns each word sequence once (here exactly the two
    # candidates), and the lattice's scores are restored after sampling on scaled scores.
    from xlsr.decode.graph_search import k2_lattice

    lattice, _ = k2_lattice(lang["HLG"], *_four_or_five(lang, 0.45, 0.45))
    scores = lattice.scores.clone()
    seqs = sample_word_seqs(lattice, num_paths=50, nbest_scale=0.5)
    candidates = {tuple(_word_ids(lang, f"two three {w}")) for w in ("four", "five")}
    assert len(seqs) == 1 and sorted(seqs[0]) == sorted(candidates)
    torch.testing.assert_close(lattice.scores, scores, rtol=0, atol=0)


def _best_path_in_G(G, word_ids: List[int], backoff: int) -> float:
    """Viterbi through G (k2 single FSA as made by make_G) for ``word_ids``, taking back-off
    arcs (label ``backoff``, i.e. #0) as epsilons; an independent check of rescoring."""
    arcs = [
        (s, d, lab, sc) for (s, d, lab, _), sc in zip(G.arcs.values().tolist(), G.scores.tolist())
    ]

    def closure(scores: Dict[int, float]) -> Dict[int, float]:
        todo = list(scores)
        while todo:  # back-off arcs only lead to lower orders: no epsilon cycles
            s = todo.pop()
            for src, dst, lab, sc in arcs:
                if src == s and lab == backoff and scores[s] + sc > scores.get(dst, -np.inf):
                    scores[dst] = scores[s] + sc
                    todo.append(dst)
        return scores

    scores = closure({0: 0.0})
    for w in word_ids + [-1]:  # -1: the arcs into the final state
        nxt: Dict[int, float] = {}
        for src, dst, lab, sc in arcs:
            if lab == w and src in scores:
                nxt[dst] = max(nxt.get(dst, -np.inf), scores[src] + sc)
        scores = closure(nxt)
    return max(scores.values(), default=-np.inf)


@pytest.mark.k2
def test_lm_scores_of_word_sequences_are_best_paths_through_G(lang):
    # Invariant: the n-best LM score of a word sequence is its best path through G (back-off
    # arcs as epsilons, so unseen n-grams back off), -inf for a word G does not have
    # (<unk>); prepare_rescoring_G leaves the G it was given unchanged.
    sentences = ["two three four", "two three five", "five five five", "one", "six four two one"]
    seqs = [tuple(_word_ids(lang, s)) for s in sentences] + [(lang["words"]["<unk>"],)]
    got = ctc._lm_scores_of(lang["G4"], [seqs])
    want = [_best_path_in_G(lang["G"], list(s), lang["words"]["#0"]) for s in seqs]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    assert np.isfinite(want[:-1]).all() and want[-1] == -np.inf
    assert (lang["G"].labels == lang["words"]["#0"]).any()  # the input G keeps its #0
    G4 = lang["G4"]
    assert not hasattr(G4, "aux_labels") and (G4.labels < lang["words"]["#0"]).all()
    torch.testing.assert_close(G4.lm_scores, G4.scores)


@pytest.mark.k2
@pytest.mark.parametrize(
    "method, call, match",
    [
        (
            "one_best",
            lambda L, x, n: ctc.one_best(L["HLG"], x[0], n),
            r"log_probs must be \(batch, frames, tokens\)",
        ),
        ("nbest", lambda L, x, n: ctc.nbest(L["HLG"], x, n[:0]), r"lengths must be \(batch,\)"),
        (
            "nbest",
            lambda L, x, n: ctc.nbest(L["HLG"], x, n, num_paths=0),
            "num_paths must be >= 1",
        ),
        (
            "ctc_decoding",
            lambda L, x, n: ctc.ctc_decoding(x, n, L["vocab"]),
            r"max_token_id must be in \[1, 16\]",
        ),
        (
            "nbest_rescoring",
            lambda L, x, n: ctc.nbest_rescoring(L["HLG"], L["G4"], x, n, lm_scales=[]),
            "lm_scales is empty",
        ),
        (
            "whole_lattice_rescoring",
            lambda L, x, n: ctc.whole_lattice_rescoring(L["HLG"], L["G"], x, n),
            r"G4 must be a one-FSA FsaVec with lm_scores \(got shape \(\d+, None\)\); prepare it",
        ),
        (
            "whole_lattice_rescoring",
            lambda L, x, n: ctc.whole_lattice_rescoring(L["HLG"], L["G4"], x, n, lm_scales=[-1]),
            "lm_scales must be >= 0",
        ),
    ],
)
def test_k2_methods_reject_bad_inputs(lang, method, call, match):
    # Invariant: bad inputs fail with a ValueError naming the method before any k2 work.
    log_probs, lengths = _batch([_posteriors(_token_ids(lang, "one"), lang["vocab"])])
    with pytest.raises(ValueError, match=f"{method}: {match}"):
        call(lang, log_probs, lengths)
