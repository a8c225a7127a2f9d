"""Translation scoring: per-direction BLEU / chrF equal sacrebleu's own corpus scores, the
average over directions, skipped utterances and the result files (DESIGN.md contracts 3, 6)."""

import json

import pytest
from sacrebleu.metrics import BLEU, CHRF

from xlsr.scoring.results import read_hyps, write_summary
from xlsr.scoring.translation import (
    bleu_metric,
    translation_scores,
    write_translation_results,
)


def item(uid, src, tgt, ref, hyp, **extra):
    return {"id": uid, "src_lang": src, "tgt_lang": tgt, "ref": ref, "hyp": hyp, **extra}


ITEMS = [
    item("de-1", "de", "en", "The cat sits on the mat.", "The cat sat on the mat."),
    item("de-2", "de", "en", "It is raining today.", "It rains today."),
    item("de-3", "de", "en", "We go home now.", "We go home now."),
    item("fr-1", "fr", "en", "I like green apples.", "I love green apples."),
    item("fr-2", "fr", "en", "The train is late again.", "The train is again late."),
    item("zh-1", "en", "zh-CN", "我们明天去学校。", "我们明天去学院。"),
    item("zh-2", "en", "zh-CN", "今天天气很好。", "今天天气非常好。"),
    item("ja-1", "en", "ja", "今日は晴れです。", "今日は雨です。"),
]


def sacre(items, tokenize="13a"):
    """sacrebleu's own corpus BLEU and chrF of ``items`` (hyp "" where skipped)."""
    hyps = ["" if it.get("skipped") else it["hyp"] for it in items]
    refs = [[it["ref"] for it in items]]
    return (
        BLEU(tokenize=tokenize).corpus_score(hyps, refs).score,
        CHRF().corpus_score(hyps, refs).score,
    )


def of(direction):
    src, tgt = direction.split("-", 1)
    return [it for it in ITEMS if it["src_lang"] == src and it["tgt_lang"] == tgt]


def ja_tokenizer():
    try:
        BLEU(tokenize="ja-mecab")
        return "ja-mecab"
    except Exception:  # noqa: BLE001 - mecab-python3 / ipadic missing
        return "char"


def test_per_direction_scores_equal_sacrebleu_and_the_average_is_their_mean():
    # Invariant: each direction's BLEU / chrF is sacrebleu's corpus score over exactly that
    # direction's sentences (13a for en, zh for zh-CN); bleu / chrf are the mean of the
    # directions, not a corpus score over all utterances.
    score = translation_scores(ITEMS)
    assert list(score["directions"]) == ["de-en", "en-ja", "en-zh-CN", "fr-en"]
    tokenizers = {"de-en": "13a", "fr-en": "13a", "en-zh-CN": "zh", "en-ja": ja_tokenizer()}
    for name, tok in tokenizers.items():
        d = score["directions"][name]
        assert (d["bleu"], d["chrf"]) == sacre(of(name), tok), name
        assert d["n"] == len(of(name))
        assert d["tokenize"] == tok
        assert f"tok:{tok}|" in d["signature"]["bleu"]
        chrf = CHRF()
        chrf.corpus_score(["x"], [["x"]])  # a signature needs a scored corpus
        assert d["signature"]["chrf"] == str(chrf.get_signature())
    bleus = [d["bleu"] for d in score["directions"].values()]
    chrfs = [d["chrf"] for d in score["directions"].values()]
    assert score["bleu"] == pytest.approx(sum(bleus) / 4, abs=1e-12)
    assert score["chrf"] == pytest.approx(sum(chrfs) / 4, abs=1e-12)
    pooled = sacre(of("de-en") + of("fr-en"))
    assert (score["per_target"]["en"]["bleu"], score["per_target"]["en"]["chrf"]) == pooled
    assert score["per_target"]["en"]["directions"] == ["de-en", "fr-en"]
    assert score["bleu"] != pytest.approx(sacre(ITEMS)[0])  # not the all-utterance corpus BLEU


def test_zh_target_uses_the_zh_tokenizer_and_ja_says_when_it_falls_back():
    # Invariant: a Chinese target (zh, zh-CN) is scored with sacrebleu's zh tokenizer; a
    # Japanese one with ja-mecab, or char with a note and tok:char in the signature.
    for lang in ("zh", "zh-CN", "zh_TW"):
        bleu, note = bleu_metric(lang)
        assert note is None and bleu.tokenizer.signature() == "zh"
    bleu, note = bleu_metric("ja")
    tok = ja_tokenizer()
    assert bleu.tokenizer.signature() == tok
    assert (note is None) == (tok == "ja-mecab")
    d = translation_scores(ITEMS)["directions"]["en-ja"]
    assert ("tokenize_note" in d) == (tok == "char")
    bleu, note = bleu_metric("zh", tokenize={"zh": "char"})  # CoVoST 2's character-level BLEU
    assert note is None and bleu.tokenizer.signature() == "char"


@pytest.mark.parametrize("rule", ["deleted", "excluded"])
def test_skipped_utterances_are_empty_hypotheses_or_left_out(tmp_path, rule):
    # Invariant: under "deleted" a skipped utterance scores as an empty hypothesis (whatever
    # its hyp field says), under "excluded" it is left out; a direction left with no
    # utterances is absent; the files account for every utterance (contract 6).
    items = [dict(it) for it in ITEMS]
    items[1].update(skipped="too long", hyp="")
    items[7].update(skipped="load error", hyp="ignored")  # the only en-ja utterance
    score = write_translation_results(tmp_path, "test", items, skipped_rule=rule)
    de_en = [it for it in items if it["id"].startswith("de-")]
    if rule == "deleted":
        assert set(score["directions"]) == {"de-en", "en-ja", "en-zh-CN", "fr-en"}
        assert score["directions"]["en-ja"]["bleu"] == 0.0
        assert score["num_utterances"] == 8
    else:
        de_en = [it for it in de_en if not it.get("skipped")]
        assert set(score["directions"]) == {"de-en", "en-zh-CN", "fr-en"}
        assert score["num_utterances"] == 6
    d = score["directions"]["de-en"]
    assert (d["bleu"], d["chrf"]) == sacre(de_en)
    assert score["utts"] == 8 and score["skipped_rule"] == rule
    assert score["skipped"]["count"] == 2
    assert score["skipped"]["reasons"] == {"load error": 1, "too long": 1}
    rows = read_hyps(tmp_path / "hyps-test.jsonl")
    assert [r["id"] for r in rows] == sorted(it["id"] for it in items)
    assert {r["id"]: r.get("skipped") for r in rows if "skipped" in r} == {
        "de-2": "too long",
        "ja-1": "load error",
    }
    assert all({"id", "ref", "hyp", "src_lang", "tgt_lang"} <= set(r) for r in rows)
    assert json.loads((tmp_path / "score-test.json").read_text(encoding="utf-8")) == score


def test_score_file_has_contract_keys_and_ranks_in_a_summary(tmp_path):
    # Invariant: score-<set>.json has contract 3's bleu, chrf, signature (+ directions) and
    # bleu_loss = 100 - bleu, so write_summary (lower is better) puts the best BLEU first;
    # the report has a row per direction and the average.
    score = write_translation_results(tmp_path, "dev", ITEMS, info={"model": {"name": "m"}})
    for key in ("bleu", "chrf", "signature", "directions", "utts", "skipped", "skipped_rule"):
        assert key in score
    assert set(score["signature"]) == {"bleu", "chrf"}
    assert "tok:13a|" in score["signature"]["bleu"] and "tok:zh|" in score["signature"]["bleu"]
    assert score["bleu_loss"] == pytest.approx(100.0 - score["bleu"])
    assert score["model"] == {"name": "m"}
    report = (tmp_path / "report-dev.txt").read_text(encoding="utf-8").splitlines()
    assert report[1] == "direction\tn\tBLEU\tchrF\ttok"
    assert report[2].startswith("de-en\t3\t") and report[5].startswith("fr-en\t2\t")
    assert report[6].startswith(f"average (4 directions)\t8\t{score['bleu']:.2f}\t")
    worse = write_translation_results(
        tmp_path / "worse", "dev", [dict(it, hyp="no") for it in ITEMS]
    )
    rows = [{"method": "good", **score}, {"method": "worse", **worse}]
    best = write_summary(tmp_path / "summary.txt", rows, metric="bleu_loss")
    assert best["method"] == "good"


def test_empty_hypotheses_references_and_sets():
    # Invariant: empty hypotheses and references score like sacrebleu does (0 BLEU, no
    # error); no items give no directions and None averages; a bad item raises ValueError.
    items = [item("a", "de", "en", "", ""), item("b", "de", "en", "A b c.", "")]
    d = translation_scores(items)["directions"]["de-en"]
    assert (d["bleu"], d["chrf"]) == sacre(items) == (0.0, 0.0)
    empty = translation_scores([])
    assert empty["directions"] == {} and empty["bleu"] is None and empty["chrf"] is None
    with pytest.raises(ValueError, match="tgt_lang"):
        translation_scores([{"id": "a", "ref": "x", "hyp": "x", "src_lang": "de"}])
    with pytest.raises(ValueError, match="duplicate"):
        translation_scores([items[0], items[0]])


def test_a_direction_whose_references_are_too_short_for_bleu_says_so(tmp_path, caplog):
    # Invariant: where no reference of a direction has 4 tokens (German numbers are single
    # compound words), BLEU is 0 even for a perfect translation; the score, the report and
    # the log say so and point to chrF. Directions with longer references carry no note.
    short = ["neunzehnhundertfünfundzwanzig", "dreitausend zweihundert", "sieben"]
    items = [item(f"en-{i}", "en", "de", r, r) for i, r in enumerate(short)]
    items += [it for it in ITEMS if it["src_lang"] == "de"]
    with caplog.at_level("WARNING", logger="xlsr.scoring.translation"):
        score = write_translation_results(tmp_path, "t", items)
    perfect = score["directions"]["en-de"]
    assert perfect["bleu"] == sacre(items[:3])[0] == 0.0 and perfect["chrf"] == 100.0
    assert "no reference has 4 tokens (the longest: 2)" in perfect["bleu_note"]
    assert "bleu_note" not in score["directions"]["de-en"]
    report = (tmp_path / "report-t.txt").read_text()
    assert "en-de\t3\t0.00 *" in report and "* en-de: no reference has 4 tokens" in report
    assert "en-de: no reference has 4 tokens" in caplog.text
