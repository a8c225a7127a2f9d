"""Language side: lexicon, L, G, LG/HLG, the OpenFst export and the CTC graph compiler."""

import numpy as np
import pytest
import torch

from xlsr.data.tokenizer import Tokenizer
from xlsr.graph.lexicon import add_disambig_symbols, read_lexicon, symbol_table
from xlsr.testing.lang import SENTENCES, make_tiny_lang_dir

K2_REASON = "k2: k2 lane only (k2 1.23.4 needs Python 3.9 + torch 1.13.1)"


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    pytest.importorskip("k2", reason=K2_REASON)
    return make_tiny_lang_dir(tmp_path_factory.mktemp("lang"))


def test_lexicon_round_trip_and_tables(tmp_path):
    paths = make_tiny_lang_dir(tmp_path, graphs=False)
    lexicon = read_lexicon(paths["lexicon.txt"])
    words = symbol_table(paths["words.txt"])
    tokens = symbol_table(paths["tokens.txt"])
    vocab = {w for s in SENTENCES for w in s.split()}
    assert {w for w, _ in lexicon} == vocab | {"<unk>"}
    for word, pieces in lexicon:
        assert all(p in tokens for p in pieces)
        if word != "<unk>":  # the pieces spell the word back
            assert "".join(pieces).replace("\u2581", "") == word
    assert [words[s] for s in ("<eps>", "<unk>")] == [0, 1]
    assert list(words)[-3:] == ["#0", "<s>", "</s>"]
    assert [tokens[s] for s in ("<blk>", "<sos/eos>", "<unk>")] == [0, 1, 2]
    assert "#0" in tokens
    tok = Tokenizer(tmp_path / "tokenizer")
    assert tok.decode(tok.encode("one two three")) == "one two three"


def test_disambiguation_symbols_for_prefixes_and_homophones():
    lexicon = [("a", ["x"]), ("ab", ["x", "y"]), ("b", ["z"]), ("c", ["z"]), ("d", ["w"])]
    out, max_disambig = add_disambig_symbols(lexicon)
    assert dict((w, p) for w, p in out) == {
        "a": ["x", "#1"],
        "ab": ["x", "y"],
        "b": ["z", "#1"],
        "c": ["z", "#2"],
        "d": ["w"],
    }
    assert max_disambig == 2


def _words_of_tokens(k2, L, token_ids):
    tokens = k2.linear_fsa(token_ids)
    tokens.aux_labels = tokens.labels.clone()  # identity transducer, composed with L
    lattice = k2.create_fsa_vec([k2.connect(k2.compose(tokens, L))])
    aux = k2.shortest_path(lattice, use_double_scores=True)[0].aux_labels
    ids = aux.values if isinstance(aux, k2.RaggedTensor) else aux
    return [w for w in ids.tolist() if w > 0]


def test_L_accepts_every_training_word_and_sentence(lang):
    import k2

    from xlsr.graph.compile import load_fsa

    L = k2.arc_sort(load_fsa(lang["L.pt"]))
    tokens, words = symbol_table(lang["tokens.txt"]), symbol_table(lang["words.txt"])
    lexicon = read_lexicon(lang["lexicon.txt"])
    for word, pieces in lexicon:
        assert _words_of_tokens(k2, L, [tokens[p] for p in pieces]) == [words[word]]
    pron = dict(lexicon)
    for sentence in SENTENCES[:4]:
        ids = [tokens[p] for w in sentence.split() for p in pron[w]]
        assert _words_of_tokens(k2, L, ids) == [words[w] for w in sentence.split()]


def _posteriors(token_ids, vocab, peak=0.9, blanks=2):
    """CTC posteriors that say ``token_ids``: 2 frames per token, ``blanks`` blank frames."""
    frames = []
    for t in token_ids:
        frames += [t, t] + [0] * blanks
    probs = np.full((len(frames), vocab), (1 - peak) / (vocab - 1), dtype=np.float32)
    probs[np.arange(len(frames)), frames] = peak
    return torch.from_numpy(np.log(probs))


@pytest.mark.parametrize("sentence", ["two three one", "four five six", "one"])
@pytest.mark.parametrize("modified", [False, True])
def test_hlg_decodes_constructed_posteriors_with_k2_and_kaldi(lang, sentence, modified, tmp_path):
    import kaldifst

    from xlsr.decode.graph_search import best_path_words, k2_lattice, kaldi_best_path
    from xlsr.graph.compile import compile_hlg, load_fsa, write_hlg_fst

    tokens, words = symbol_table(lang["tokens.txt"]), symbol_table(lang["words.txt"])
    pron = dict(read_lexicon(lang["lexicon.txt"]))
    ids = [tokens[p] for w in sentence.split() for p in pron[w]]
    vocab = Tokenizer(lang["tokens.txt"].parent / "tokenizer").vocab_size
    log_probs = _posteriors(ids, vocab)
    HLG = load_fsa(lang["HLG.pt"])
    fst = kaldifst.StdVectorFst.read(str(lang["HLG.fst"]))
    if modified:  # the same LG under the modified CTC topology
        HLG = compile_hlg(load_fsa(lang["LG.pt"]), vocab - 1, modified=True)
        write_hlg_fst(HLG, tmp_path / "HLG.fst")
        fst = kaldifst.StdVectorFst.read(str(tmp_path / "HLG.fst"))
    lattice, order = k2_lattice(HLG, log_probs[None], torch.tensor([log_probs.shape[0]]))
    expected = [words[w] for w in sentence.split()]
    assert best_path_words(lattice, order) == [expected]
    # the same graph through OpenFst + Kaldi's decoder gives the same best path
    assert kaldi_best_path(fst, log_probs.numpy()) == expected


def test_graph_size_guard(lang):
    from xlsr.graph.compile import GraphTooLargeError, compile_lg, load_fsa

    G = load_fsa(lang["G_3_gram.pt"])
    with pytest.raises(GraphTooLargeError, match=r"G has \d+ arcs, more than the limit 10: prune"):
        compile_lg(lang["L.pt"].parent, G, max_g_arcs=10)


@pytest.mark.parametrize("modified", [False, True])
def test_ctc_training_graphs_match_torch_ctc_loss(modified):
    # The k2 CTC graph's total log-probability over posteriors equals -F.ctc_loss
    # (standard topology; the modified one allows more paths, so its score is higher).
    k2 = pytest.importorskip("k2", reason=K2_REASON)
    from xlsr.graph.compile import CtcGraphCompiler

    torch.manual_seed(0)
    targets = [[3, 1, 4, 1], [2, 2], [5]]
    log_probs = torch.randn(3, 12, 6).log_softmax(-1)
    lengths = torch.tensor([12, 9, 5])
    graphs = CtcGraphCompiler(modified=modified).compile(targets)
    segments = torch.stack([torch.arange(3), torch.zeros(3, dtype=torch.long), lengths], 1)
    dense = k2.DenseFsaVec(log_probs, segments.to(torch.int32))
    lattice = k2.intersect_dense(graphs, dense, output_beam=100.0)
    k2_scores = lattice.get_tot_scores(log_semiring=True, use_double_scores=True).float()
    flat = torch.tensor([t for ts in targets for t in ts])
    ref = -torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1),
        flat,
        lengths,
        torch.tensor([len(t) for t in targets]),
        reduction="none",
    )
    if modified:
        assert (k2_scores >= ref - 1e-4).all()
    else:
        torch.testing.assert_close(k2_scores, ref, rtol=1e-4, atol=1e-4)


def test_k2_missing_gives_a_clear_error(monkeypatch):
    import builtins

    from xlsr.graph.k2_utils import require_k2

    real_import = builtins.__import__

    def no_k2(name, *args, **kwargs):
        if name == "k2":
            raise ImportError("No module named 'k2'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_k2)
    with pytest.raises(ImportError, match="HLG decoding needs k2.*k2 lane"):
        require_k2("HLG decoding")


def test_per_language_tokenizers_share_one_token_table(tmp_path):
    from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer

    texts = {"en": ["one two three", "three two one"], "de": ["eins zwei drei", "drei zwei"]}
    tok = train_tokenizer(texts, tmp_path, TokenizerConfig(model_type="char", per_language=True))
    assert set(tok.models) == {"en", "de"}
    for lang, sents in texts.items():
        for s in sents:
            ids = tok.encode(s, lang)
            assert tok.unk_id not in ids and tok.decode(ids) == s
    with pytest.raises(ValueError, match="no tokenizer model for language 'fr'"):
        tok.encode("un", "fr")
