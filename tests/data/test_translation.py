"""Speech translation targets: the target tokenizer's ids and tags, and ST pairs of cuts."""

import pickle

import pytest
from lhotse import CutSet, MonoCut, SupervisionSegment
from lhotse.testing.dummies import dummy_recording

from xlsr.data.numbers import NumbersConfig, plan_utterances
from xlsr.data.text_norm import TextNormalizer, TextNormConfig
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.data.translation import (
    CORPUS_TAGS,
    EOS_ID,
    MBART50_CODES,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    StTargets,
    TargetTokenizer,
    TargetTokenizerConfig,
    language_tag,
    st_pairs,
    target_of,
    target_texts,
    train_target_tokenizer,
)
from xlsr.testing.corpus import make_tiny_cutset

TEXTS = {
    "en": ["one two", "three", "four five six", "seven", "twenty one", "ninety nine"],
    "de": ["eins zwei", "drei", "vier fünf sechs", "sieben", "einundzwanzig"],
    "fr": ["un deux", "trois", "quatre cinq six", "sept", "vingt et un"],
}
#: The tiny corpus' words by language (make_tiny_cutset cycles its four texts).
WORDS = {lang: TEXTS[lang][:4] for lang in TEXTS}


def _train(path, model_type="unigram", normalizer=None):
    cfg = TargetTokenizerConfig(model_type=model_type, vocab_size=60)
    return train_target_tokenizer(TEXTS, path / "target_tokenizer", cfg, normalizer)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("st"))


@pytest.fixture(scope="module")
def cuts(tmp_path_factory):
    """6 cuts (de en fr de en fr) in the numbers layout: English ones carry translations."""
    cuts = make_tiny_cutset(tmp_path_factory.mktemp("audio"), n=6, durations=[0.2] * 6)

    def add_translations(sup):
        if sup.language != "en":
            return sup
        k = WORDS["en"].index(sup.text)
        sup.custom["translations"] = {x: WORDS[x][k] for x in WORDS}  # En -> X, en included
        return sup

    return CutSet.from_cuts(c.map_supervisions(add_translations) for c in cuts)


def test_specials_have_fairseq_ids_and_tags_follow_by_language(tok):
    # Invariant: <s> 0, <pad> 1, </s> 2, <unk> 3, then one tag per language in sorted order.
    assert [tok.sp.id_to_piece(i) for i in range(4)] == list(SPECIALS)
    assert (tok.bos_id, tok.pad_id, tok.eos_id, tok.unk_id) == (0, PAD_ID, EOS_ID, UNK_ID)
    assert (PAD_ID, EOS_ID, UNK_ID) == (1, 2, 3)
    assert [tok.tag_id(lang) for lang in ("de", "en", "fr")] == [4, 5, 6]
    assert [tok.sp.id_to_piece(i) for i in (4, 5, 6)] == ["de_DE", "en_XX", "fr_XX"]
    assert tok.languages == ["de", "en", "fr"] and tok.lang_of(5) == "en"


def test_tags_are_single_pieces_never_split(tok):
    # Invariant: a tag is one user-defined piece, in any context sentencepiece sees it.
    for lang in tok.languages:
        tag = MBART50_CODES[lang]
        assert tok.sp.encode(f"{tag}", out_type=str)[-1] == tag
        assert tag in tok.sp.encode(f"eins{tag}zwei", out_type=str)


def test_a_tag_written_in_the_text_becomes_unk(tmp_path):
    # Invariant: only encode() puts tags into a target; one in the text is <unk>.
    raw = TextNormalizer(TextNormConfig(lowercase=False, remove_punctuation=False))
    tok = _train(tmp_path, normalizer=raw)
    ids, unknown = tok.encode_checked("zwei de_DE", "en")
    assert ids[0] == tok.tag_id("en") and tok.tag_id("de") not in ids
    assert UNK_ID in ids and unknown == ["de_DE"]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_encode_decode_round_trip_through_the_normaliser(tmp_path, model_type):
    # Invariant: decode(encode(t)) is the normalised t; a target is <lang> tokens </s>.
    tok = _train(tmp_path, model_type)
    ids = tok.encode("Vier, Fünf-Sechs!", "de")
    assert ids[0] == tok.tag_id("de") and ids[-1] == EOS_ID
    assert all(i > 6 for i in ids[1:-1])  # no specials, no tags, no <unk> inside
    assert tok.decode(ids) == "vier fünf sechs" == tok.normalize("Vier, Fünf-Sechs!")
    loaded = TargetTokenizer(tmp_path / "target_tokenizer")
    assert loaded.encode("twenty one", "en") == tok.encode("twenty one", "en")


def test_decoder_input_is_the_target_shifted_right_with_eos_first(tok):
    # Invariant (mBART-50 / HF decoder_start_token_id = eos): input[t] = target[t - 1].
    ids = tok.encode("quatre cinq", "fr")
    dec = tok.decoder_input(ids)
    assert dec == [EOS_ID] + ids[:-1] and dec[1] == tok.tag_id("fr") and len(dec) == len(ids)
    with pytest.raises(ValueError, match="not a target"):
        tok.decoder_input(ids[1:])


def test_unknown_language_names_it_and_the_known_ones(tok):
    with pytest.raises(ValueError, match=r"'it'.*\['de', 'en', 'fr'\]"):
        tok.encode("uno", "it")
    with pytest.raises(ValueError, match="'xx'"):
        language_tag("xx")


def test_corpus_tags_and_regional_codes(tok):
    # Invariant: CoVoST's Common Voice codes get their tags (mBART-50's where it has the
    # language); a regional code falls back to its language's tag in a vocabulary that
    # names languages without region (an mBART-50 one: zh_CN read as zh), never otherwise.
    assert (language_tag("zh-CN"), language_tag("sv-SE"), language_tag("ca")) == (
        "zh_CN",
        "sv_SE",
        "ca_XX",
    )
    assert tok.tag_id("de-AT") == tok.tag_id("de")
    with pytest.raises(ValueError, match="'it-CH'"):
        tok.tag_id("it-CH")
    mod = pytest.importorskip("transformers.models.mbart50.tokenization_mbart50")
    for code in CORPUS_TAGS.values():
        assert code in mod.FAIRSEQ_LANGUAGE_CODES or code in ("ca_XX", "cy_XX")


def test_code_table_matches_transformers_mbart50():
    # Invariant: every tag is an mBART-50 code whose language part is our language code.
    mod = pytest.importorskip("transformers.models.mbart50.tokenization_mbart50")
    for lang, code in MBART50_CODES.items():
        assert code in mod.FAIRSEQ_LANGUAGE_CODES and code.split("_")[0] == lang


def test_st_pairs_counts_and_ids(cuts):
    # Invariant: x-en = one pair per non-English cut; en-x = one per English cut and
    # non-English target; ids are <cut id>_<tgt lang>; the source transcript is kept.
    x_en, en_x, both = (st_pairs(cuts, d) for d in ("x-en", "en-x", "all"))
    assert sorted(x_en.ids) == ["utt-0000_en", "utt-0002_en", "utt-0003_en", "utt-0005_en"]
    assert sorted(en_x.ids) == ["utt-0001_de", "utt-0001_fr", "utt-0004_de", "utt-0004_fr"]
    # "all": both directions, in the order of the input cuts, targets by language
    assert list(both.ids) == [
        "utt-0000_en",
        "utt-0001_de",
        "utt-0001_fr",
        "utt-0002_en",
        "utt-0003_en",
        "utt-0004_de",
        "utt-0004_fr",
        "utt-0005_en",
    ]
    de = both["utt-0004_de"].supervisions[0]
    assert (de.language, de.text, de.id) == ("en", "one two", "utt-0004_de")
    assert target_of(both["utt-0004_de"]) == ("de", "eins zwei")
    assert target_of(both["utt-0000_en"]) == ("en", "one two")  # utt-0000: "eins zwei"
    assert len(st_pairs(cuts, "all", tgt_langs=["fr"])) == 2
    with pytest.raises(ValueError, match="direction"):
        st_pairs(cuts, "de-en")


def test_st_targets_with_source_ctc_targets_pickle(tmp_path, tok, cuts):
    # Invariant: a worker's unpickled StTargets gives the same ids as the original.
    asr = train_tokenizer(
        {x: WORDS[x] for x in WORDS}, tmp_path / "lang" / "tokenizer", TokenizerConfig("char")
    )
    st = StTargets(tok.directory, tmp_path / "lang" / "tokenizer")
    cut = st_pairs(cuts, "en-x")["utt-0004_de"]
    out = st(cut)
    assert out["targets"] == tok.encode("eins zwei", "de")
    assert out["decoder_input"] == [EOS_ID] + out["targets"][:-1]
    assert out["source"] == asr.encode("one two")
    assert pickle.loads(pickle.dumps(st))(cut) == out
    assert "source" not in StTargets(tok.directory)(cut)
    with pytest.raises(ValueError, match="st_pairs"):
        st(cuts[0])


def _numbers_cuts(num_utterances: int) -> CutSet:
    """Cuts (dummy audio) with the supervisions prepare_numbers writes, for all 10 languages."""
    cuts = []
    for i, u in enumerate(plan_utterances(NumbersConfig(num_utterances=num_utterances))):
        custom = {"translation": u["translation"]}
        if "translations" in u:
            custom["translations"] = u["translations"]
        rec = dummy_recording(i)  # no audio is read
        sup = SupervisionSegment(
            u["id"], rec.id, 0.0, 1.0, 0, text=u["text"], language=u["lang"], custom=custom
        )
        cuts.append(MonoCut(u["id"], 0.0, 1.0, 0, recording=rec, supervisions=[sup]))
    return CutSet.from_cuts(cuts)


def test_numbers_corpus_pairs_train_a_tokenizer_that_round_trips_every_target(tmp_path):
    # Invariant: on the numbers layout, x-en gives one pair per non-English utterance and
    # en-x nine per English one; every target of all 10 languages decodes back to itself.
    cuts = _numbers_cuts(100)  # 10 per language
    pairs = st_pairs(cuts, "all")
    texts = target_texts(pairs)
    assert len(pairs) == 90 + 10 * 9 and len(set(pairs.ids)) == len(pairs)
    assert sorted(texts) == sorted(MBART50_CODES) and len(texts["en"]) == 90
    tok = train_target_tokenizer(
        texts, tmp_path / "target_tokenizer", TargetTokenizerConfig(vocab_size=300)
    )
    assert tok.languages == sorted(MBART50_CODES)
    for cut in pairs:
        tgt_lang, text = target_of(cut)
        ids, unknown = tok.encode_checked(text, tgt_lang)
        assert not unknown and tok.lang_of(ids[0]) == tgt_lang
        assert tok.decode(ids) == text


def test_training_refuses_a_too_small_vocab_and_texts_without_a_tag(tmp_path):
    with pytest.raises(ValueError, match="vocab_size 20 is too small"):
        train_target_tokenizer(TEXTS, tmp_path / "a", TargetTokenizerConfig(vocab_size=20))
    with pytest.raises(ValueError, match=r"texts of \['fr'\] but no tag"):
        train_target_tokenizer(TEXTS, tmp_path / "b", languages=["de", "en"])
    with pytest.raises(ValueError, match="model_type"):
        train_target_tokenizer(TEXTS, tmp_path / "c", TargetTokenizerConfig(model_type="char"))
    # extra languages get a tag without any text
    tok = train_target_tokenizer(
        TEXTS, tmp_path / "d", TargetTokenizerConfig(vocab_size=60), languages=[*TEXTS, "it"]
    )
    assert tok.languages == ["de", "en", "fr", "it"] and tok.tag_id("it") == 7
