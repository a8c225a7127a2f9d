"""The mBART-50 vocabulary of existing ST models (xlsr.data.mbart_vocab).

Invariants: a Hugging Face MBart50Tokenizer dir gives transformers' ids (fairseq offset 1,
the 52 language codes then <mask> after the sentencepiece pieces) and its decoded text
(modern lane: checked against MBart50Tokenizer itself); a fairseq dictionary gives the
file's order after the four specials, its language tags in any of fairseq's spellings, or
mBART-50's tags appended when the model has exactly 53 more ids; what is not such a
vocabulary is refused naming the file."""

import json
import pickle
import random

import pytest

from xlsr.data.mbart_vocab import (
    MBART50_LANGUAGE_CODES,
    fairseq_vocabulary,
    hf_vocabulary,
    read_fairseq_dict,
    short_code,
    tag_language,
)
from xlsr.data.translation import MBART50_CODES, SPECIALS
from xlsr.testing.checkpoints import write_fairseq_st_vocabulary, write_hf_mbart50_tokenizer

TEXTS = [
    "one two three four five six seven eight nine ten",
    "eins zwei drei vier fünf sechs sieben acht neun zehn",
    "un deux trois quatre cinq six sept huit neuf dix",
] * 4
#: normalised texts (transformers 5 keeps a trailing space as a "▁" piece, sentencepiece
#: drops it), with characters the model lacks (<unk>)
SAMPLES = ["eins zwei drei", "quatre cinq xyz", "ten nine", "fünf€ sechs"]


@pytest.fixture(scope="module")
def hf_tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("mbart50")
    size = write_hf_mbart50_tokenizer(path, TEXTS)
    return path, size


def test_language_codes_are_transformers_and_map_to_ours():
    # the 52 codes in transformers' order; each of ours (translation.MBART50_CODES) maps back
    assert len(MBART50_LANGUAGE_CODES) == len(set(MBART50_LANGUAGE_CODES)) == 52
    assert len({short_code(c) for c in MBART50_LANGUAGE_CODES}) == 52
    for lang, code in MBART50_CODES.items():
        assert short_code(code) == lang and code in MBART50_LANGUAGE_CODES
    assert short_code("zh_CN") == "zh" and short_code("de") == "de" and short_code("main") is None
    assert [tag_language(t) for t in ("<lang:de_DE>", "__fr__", "[en_XX]", "__main__", "x")] == [
        "de",
        "fr",
        "en",
        None,
        None,
    ]


def test_language_codes_are_transformers_list():
    mbart50 = pytest.importorskip(
        "transformers.models.mbart50.tokenization_mbart50", reason="transformers: modern lane"
    )
    assert list(MBART50_LANGUAGE_CODES) == list(mbart50.FAIRSEQ_LANGUAGE_CODES)


def test_hf_layout(hf_tok):
    # ids 0-3 the specials, sentencepiece piece i at i + 1, the codes, <mask> last; encode is
    # [tag, pieces, </s>]; decode drops specials, tags and <mask>
    import sentencepiece as spm

    path, size = hf_tok
    vocab = hf_vocabulary(path)
    sp = spm.SentencePieceProcessor(model_file=str(path / "sentencepiece.bpe.model"))
    n = sp.get_piece_size()
    assert vocab.vocab_size == size == n + 54
    assert vocab.pieces[:4] == list(SPECIALS) and vocab.pieces[-1] == "<mask>"
    assert all(vocab.pieces[i + 1] == sp.id_to_piece(i) for i in range(3, n))
    assert vocab.tag_id("ar") == n + 1 and vocab.tag_id("sl") == n + 52
    assert vocab.lang_of(vocab.tag_id("de")) == "de" and vocab.lang_of(5) is None
    assert len(vocab.languages) == 52 and "en" in vocab.languages
    ids = vocab.encode("eins zwei", "de")
    assert ids[0] == vocab.tag_id("de") and ids[-1] == 2
    assert ids[1:-1] == [i + 1 for i in sp.encode("eins zwei")]
    mask, tag = vocab.vocab_size - 1, vocab.tag_id("fr")
    assert vocab.decode([0, tag, *ids[1:-1], 3, mask, 1, 2]) == "eins zwei"
    with pytest.raises(ValueError, match="target language 'xx' has no tag"):
        vocab.tag_id("xx")
    again = pickle.loads(pickle.dumps(vocab))
    assert again.encode("drei", "en") == vocab.encode("drei", "en")


def test_hf_ids_and_text_equal_mbart50_tokenizer(hf_tok):
    transformers = pytest.importorskip("transformers", reason="transformers: modern lane only")
    path, _ = hf_tok
    vocab = hf_vocabulary(path)
    for code in ("de_DE", "en_XX", "sl_SI"):
        tok = transformers.MBart50Tokenizer.from_pretrained(path, tgt_lang=code)
        for text in SAMPLES:
            assert vocab.encode(text, short_code(code)) == tok(text_target=text).input_ids
    rng = random.Random(0)
    for _ in range(300):  # any ids, "▁" alone, tags and specials among them
        ids = [rng.randrange(vocab.vocab_size) for _ in range(rng.randrange(1, 9))]
        assert vocab.decode(ids) == tok.decode(ids, skip_special_tokens=True), ids


def test_hf_dir_that_is_not_mbart50_is_refused(tmp_path, hf_tok):
    import sentencepiece as spm

    with pytest.raises(FileNotFoundError, match="sentencepiece.bpe.model: no such file"):
        hf_vocabulary(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    with pytest.raises(ValueError, match="tokenizer_class 'T5Tokenizer'"):
        hf_vocabulary(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXTS),
        model_prefix=str(other / "sentencepiece.bpe"),
        vocab_size=40,
        hard_vocab_limit=False,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        minloglevel=2,
    )
    with pytest.raises(ValueError, match="not <unk> <s> </s>"):
        hf_vocabulary(other)


@pytest.mark.parametrize(
    "tags, langs",
    [
        (("<lang:de>", "<lang:en>"), ["de", "en"]),
        (("__de_DE__", "__fr_XX__"), ["de", "fr"]),
        (("[en_XX]", "[zh_CN]"), ["en", "zh"]),
    ],
)
def test_fairseq_dictionary_with_its_tags(tmp_path, tags, langs):
    # ids: the specials, then dict.txt's lines in order; the tags' languages ours; encoding
    # splits with the sentencepiece model and looks each piece up; decoding strips the text
    size = write_fairseq_st_vocabulary(tmp_path, TEXTS, tags)
    vocab = fairseq_vocabulary(tmp_path / "dict.txt", tmp_path / "spm.model")
    lines = (tmp_path / "dict.txt").read_text(encoding="utf-8").splitlines()
    assert vocab.vocab_size == size and vocab.pieces == [*SPECIALS, *(x[:-2] for x in lines)]
    assert vocab.languages == sorted(langs)
    assert vocab.pieces[vocab.tag_id(langs[0])] == tags[0]
    ids = vocab.encode("zwei drei", langs[1])
    assert [vocab.pieces[i] for i in ids[1:-1]] == vocab.sp.encode("zwei drei", out_type=str)
    assert vocab.decode(ids) == "zwei drei" and vocab.decode([vocab.ids["\u2581"]] + ids) == (
        "zwei drei"
    )
    assert vocab.files == [tmp_path / "dict.txt", tmp_path / "spm.model"]


def test_fairseq_mbart50_dictionary_gets_the_tags_appended(tmp_path):
    # mBART-50's dict.txt has no tags: with a model of 53 more ids they follow it as [xx_XX]
    # in transformers' order, then <mask>; otherwise the dictionary is refused
    size = write_fairseq_st_vocabulary(tmp_path, TEXTS, tags=())
    vocab = fairseq_vocabulary(tmp_path / "dict.txt", tmp_path / "spm.model", vocab_size=size + 53)
    assert vocab.vocab_size == size + 53 and vocab.pieces[size] == "[ar_AR]"
    assert vocab.tag_id("ar") == size and vocab.tag_id("sl") == size + 51
    assert vocab.pieces[-1] == "<mask>" and len(vocab.languages) == 52
    with pytest.raises(ValueError, match=r"dict.txt: no language tags .* the model has 99"):
        fairseq_vocabulary(tmp_path / "dict.txt", tmp_path / "spm.model", vocab_size=99)


def test_fairseq_dictionary_lines(tmp_path):
    # fairseq's Dictionary.load: "piece count", an optional #fairseq:overwrite flag
    path = tmp_path / "dict.txt"
    path.write_text("▁a 5\n<lang:de> 1 #fairseq:overwrite\nb c 3\n", encoding="utf-8")
    assert read_fairseq_dict(path) == [*SPECIALS, "▁a", "<lang:de>", "b c"]
    path.write_text("▁a 5\nbroken\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dict.txt:2: expected 'piece count'"):
        read_fairseq_dict(path)
