"""The st task through the generic entry points: ST pair cuts, the target tokenizer in the
lang dir, training (with the auxiliary CTC on the source transcript), decoding with the
forced target-language prefix and the translation result files."""

import json

import pytest
import torch
import yaml
from lhotse import CutSet

from xlsr.bin import decode as decode_bin
from xlsr.bin import train as train_bin
from xlsr.data.text_norm import TextNormalizer
from xlsr.data.tokenizer import TokenizerConfig, train_tokenizer
from xlsr.data.translation import (
    EOS_ID,
    PAD_ID,
    TargetTokenizer,
    TargetTokenizerConfig,
    st_pairs,
    target_texts,
    train_target_tokenizer,
)
from xlsr.decode.st_search import SearchConfig
from xlsr.tasks import get_task
from xlsr.tasks.decode_plan import DecodePlan
from xlsr.tasks.st import TargetLangConfig, collate_targets
from xlsr.testing.corpus import make_tiny_cutset
from xlsr.testing.train import tiny_train_args

pytestmark = pytest.mark.filterwarnings("ignore:You are using DynamicBucketingSampler")

#: make_tiny_cutset's four texts per language (the English one is custom['translation'])
WORDS = {
    "en": ["one two", "three", "four five six", "seven"],
    "de": ["eins zwei", "drei", "vier fünf sechs", "sieben"],
    "fr": ["un deux", "trois", "quatre cinq six", "sept"],
}
#: a decoder as small as st_tiny's, with the auxiliary CTC on
ST_YAML = {
    "st": {
        "decoder_embed_dim": 32,
        "decoder_layers": 1,
        "decoder_attention_heads": 2,
        "decoder_ffn_embed_dim": 64,
        "max_target_positions": 64,
        "adaptor_layers": 1,
        "encoder_proj": True,
        "ctc_weight": 0.3,
    }
}


def _with_translations(cuts: CutSet) -> CutSet:
    """English cuts get ``custom['translations']`` (en -> de, fr), as the numbers corpus."""

    def add(sup):
        if sup.language == "en":
            k = WORDS["en"].index(sup.text)
            sup.custom["translations"] = {x: WORDS[x][k] for x in WORDS}
        return sup

    return CutSet.from_cuts(c.map_supervisions(add) for c in cuts)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """ST pairs of 6 utterances (de en fr de en fr) in both directions: 4 x-en + 4 en-x."""
    root = tmp_path_factory.mktemp("st")
    cuts = _with_translations(make_tiny_cutset(root / "audio", n=6, durations=[1.0] * 6))
    pairs = st_pairs(cuts, "all")
    pairs.to_file(root / "pairs.jsonl.gz")
    lang = root / "lang"
    TextNormalizer().save(lang)
    train_tokenizer({x: WORDS[x] for x in WORDS}, lang / "tokenizer", TokenizerConfig("char"))
    cfg = TargetTokenizerConfig(vocab_size=60)
    train_target_tokenizer(target_texts(pairs), lang / "target_tokenizer", cfg)
    (root / "st.yaml").write_text(yaml.safe_dump(ST_YAML))
    return root, pairs


def test_targets_collate_into_padded_model_targets(data):
    # Invariant: a batch's targets are the per-cut ids right-padded with pad id 1, the
    # decoder input the target shifted right with eos first; the source CTC ids with their
    # lengths; the lang dir fixes both vocabulary sizes.
    root, pairs = data
    task = get_task("st")
    targets = task.targets(root / "lang")
    cuts = [pairs["utt-0001_de"], pairs["utt-0000_en"]]  # "drei" (from "three"), "one two"
    per_cut = [targets(c) for c in cuts]
    batch = collate_targets(per_cut)
    n = max(len(t["targets"]) for t in per_cut)
    assert batch.target.shape == batch.prev_output_tokens.shape == (2, n)
    for row, prev, t in zip(batch.target, batch.prev_output_tokens, per_cut):
        k = len(t["targets"])
        assert row[:k].tolist() == t["targets"] and (row[k:] == PAD_ID).all()
        assert prev[0] == EOS_ID and prev[1:k].tolist() == t["targets"][:-1]
    assert batch.source_lengths.tolist() == [len(t["source"]) for t in per_cut]
    values = task.lang_values(targets)
    assert values["vocab_size"] == targets.tokenizer.vocab_size
    assert values["source_vocab_size"] == targets.source.tokenizer.vocab_size > 1
    assert targets.tokenizer.decode(per_cut[0]["targets"]) == "drei"


def test_st_trains_two_updates_with_the_auxiliary_ctc(data, tmp_path):
    # Invariant: st trains through xlsr.bin.train with the vocabulary sizes from the lang
    # dir, and config.yaml records both tokenizers' hashes.
    root, _ = data
    args = tiny_train_args(root / "lang", root / "pairs.jsonl.gz", tmp_path / "exp")
    argv = ["--task", "st", *args, "--config", str(root / "st.yaml"), "--max-update", "2"]
    assert train_bin.main(argv) == 0
    run = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert run["task"] == "st" and run["st"]["ctc_weight"] == 0.3
    assert run["st"]["vocab_size"] == get_task("st").targets(root / "lang").tokenizer.vocab_size
    assert run["target_tokens_hash"] and run["tokens_hash"]
    state = torch.load(tmp_path / "exp" / "checkpoint-2.pt", map_location="cpu", weights_only=False)
    assert state["model"]["ctc_head.weight"].shape[0] == run["st"]["source_vocab_size"]


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    root, _ = data
    exp = tmp_path_factory.mktemp("st_exp") / "exp"
    args = tiny_train_args(root / "lang", root / "pairs.jsonl.gz", exp)
    argv = ["--task", "st", *args, "--config", str(root / "st.yaml"), "--max-update", "2"]
    assert train_bin.main(argv) == 0
    return exp


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_st_decodes_every_pair_in_its_own_target_language(data, trained):
    # Invariant: greedy and beam search decode every utterance of the test set (3 target
    # languages) with hyps rows carrying src_lang / tgt_lang, the reference the normalised
    # target of that direction, and score files with BLEU, chrF, their signature and
    # contract 6's accounting; the summary ranks by bleu_loss (100 - BLEU).
    root, pairs = data
    argv = ["--exp-dir", str(trained), "--lang-dir", str(root / "lang")]
    argv += ["--cuts", str(root / "pairs.jsonl.gz"), "--test-set", "t"]
    argv += ["--methods", "greedy_search,beam_search", "--beam", "2", "--max-len-b", "4"]
    assert decode_bin.main(argv) == 0  # the task from config.yaml
    expected = {c.id: (c.supervisions[0].language, c.supervisions[0].custom) for c in pairs}
    for method in ("greedy_search", "beam_search"):
        out = trained / "decode" / method
        rows = _rows(out / "hyps-t.jsonl")
        assert sorted(r["id"] for r in rows) == sorted(expected)
        for r in rows:
            src, custom = expected[r["id"]]
            assert (r["src_lang"], r["tgt_lang"]) == (src, custom["tgt_lang"])
            assert r["ref"] == custom["target"] and "skipped" not in r
            assert len(r["hyp"].split()) <= 4  # --max-len-b 4 tokens
        score = json.loads((out / "score-t.json").read_text())
        assert {"bleu", "chrf", "signature", "bleu_loss"} <= set(score)
        assert score["bleu_loss"] == pytest.approx(100.0 - score["bleu"])
        assert score["utts"] == len(pairs) == 8 and score["skipped"]["count"] == 0
        assert set(score["directions"]) == {"de-en", "fr-en", "en-de", "en-fr"}
    summary = (trained / "decode" / "summary-t.txt").read_text()
    assert "greedy_search" in summary and "beam_search" in summary


def test_audio_without_a_target_language_needs_tgt_lang(data, trained, tmp_path):
    # Invariant: cuts that name no target language are refused before the model is loaded
    # unless --tgt-lang gives one, and with it are decoded into that language.
    root, _ = data
    plain = make_tiny_cutset(tmp_path / "audio", n=2, durations=[1.0] * 2)
    plain.to_file(tmp_path / "plain.jsonl.gz")
    argv = ["--exp-dir", str(trained), "--lang-dir", str(root / "lang")]
    argv += ["--cuts", str(tmp_path / "plain.jsonl.gz"), "--test-set", "p", "--max-len-b", "3"]
    with pytest.raises(SystemExit, match="--tgt-lang: 2 of 2 utterances name no target"):
        decode_bin.main(argv)
    with pytest.raises(SystemExit, match=r"target languages \['xx'\]"):
        decode_bin.main([*argv, "--tgt-lang", "xx"])
    assert decode_bin.main([*argv, "--tgt-lang", "de"]) == 0
    rows = _rows(trained / "decode" / "greedy_search" / "hyps-p.jsonl")
    assert [r["tgt_lang"] for r in rows] == ["de", "de"]


class EchoTag:
    """A decoder stand-in that, after ``</s> <tag>``, spells one word of the tag's language
    and stops: the hypothesis shows which target language was forced."""

    def __init__(self, tok: TargetTokenizer, words: dict) -> None:
        self.cfg = type("Cfg", (), {"pad_id": PAD_ID, "eos_id": EOS_ID, "max_target_positions": 64})
        self.vocab = tok.vocab_size
        self.spelt = {tok.tag_id(x): tok.encode(w, x)[1:] for x, w in words.items()}  # + eos
        self.lang_of = {tok.tag_id(x): x for x in words}
        self.searched: dict = {}  # language -> searches (first steps) that forced it

    def decode_step(self, memory, memory_lengths, tokens, cache=None):
        step = tokens.shape[1] - 2
        if step == 0:
            for lang in {self.lang_of[t] for t in tokens[:, 1].tolist()}:
                self.searched[lang] = self.searched.get(lang, 0) + 1
        out = torch.full((tokens.shape[0], self.vocab), -20.0)
        for i, tag in enumerate(tokens[:, 1].tolist()):
            out[i, self.spelt[tag][min(step, len(self.spelt[tag]) - 1)]] = 0.0
        return out.log_softmax(-1), {"length": tokens.shape[1], "layers": []}


@pytest.mark.parametrize("method", ["greedy_search", "beam_search"])
def test_each_utterance_gets_the_hypothesis_of_its_own_target_language(data, tmp_path, method):
    # Invariant: in a batch that mixes target languages, every utterance is decoded with the
    # prefix </s> <its tgt_lang tag> and its hyps row is that hypothesis, with src_lang /
    # tgt_lang; each language's rows are searched once (the methods get the cut ids).
    root, pairs = data
    task = get_task("st")
    refs = task.reference(root / "lang")
    cuts = [pairs[i] for i in ("utt-0000_en", "utt-0001_de", "utt-0001_fr", "utt-0004_fr")]
    utts = {c.id: {"id": c.id, "ref": refs(c), "lang": c.supervisions[0].language} for c in cuts}
    options = {
        SearchConfig: SearchConfig(beam=2, max_len_b=6),
        TargetLangConfig: TargetLangConfig(),
    }
    DecodePlan(task, [method], options=options).check(utts)
    words = {"en": "seven", "de": "drei", "fr": "trois"}  # target texts of the pairs
    model = EchoTag(TargetTokenizer(root / "lang" / "target_tokenizer"), words)
    ctx = task.prepare(model, root / "lang", [method], options)
    assert ctx["languages"] == ["de", "en", "fr"]
    plan = DecodePlan(task, [method], ctx, options)
    memory, lengths = torch.randn(4, 5, 8), torch.tensor([5, 4, 5, 3])
    ids = [c.id for c in cuts]
    hyps = plan.decode_batch(memory, lengths, ids)[method]
    assert model.searched == {"en": 1, "de": 1, "fr": 1}  # one search per language
    items = [dict(utts[c.id], hyp=h) for c, h in zip(cuts, hyps)]
    plan.score(method, tmp_path, "t", items, skipped_rule="deleted")
    rows = {r["id"]: r for r in _rows(tmp_path / "hyps-t.jsonl")}
    tgt = {"utt-0000_en": "en", "utt-0001_de": "de", "utt-0001_fr": "fr", "utt-0004_fr": "fr"}
    assert {i: r["hyp"] for i, r in rows.items()} == {i: words[x] for i, x in tgt.items()}
    assert {i: r["tgt_lang"] for i, r in rows.items()} == tgt
    assert rows["utt-0000_en"]["src_lang"] == "de" and rows["utt-0001_fr"]["src_lang"] == "en"
    refs = task.reference(root / "lang")  # a test set of one direction: en -> fr
    one = {c.id: dict(utts[c.id], ref=refs(c)) for c in cuts[2:]}
    DecodePlan(task, [method], options=options).check(one)
    ctx = task.prepare(model, root / "lang", [method], options)
    plan = DecodePlan(task, [method], ctx, options)
    assert ctx["languages"] == ["fr"] and plan.decode_batch(memory[:2], lengths[:2]) == {
        method: ["trois", "trois"]
    }
    assert not plan.has_fields
    # a context without a test set (load_decoder) decodes only into --tgt-lang
    ctx = task.prepare(model, root / "lang", [method], options)
    with pytest.raises(ValueError, match="no target language to decode into"):
        DecodePlan(task, [method], ctx, options).decode_batch(memory, lengths)
    options[TargetLangConfig] = TargetLangConfig("de")
    ctx = task.prepare(model, root / "lang", [method], options)
    plan = DecodePlan(task, [method], ctx, options)
    assert plan.decode_batch(memory[:1], lengths[:1]) == {method: ["drei"]}


def test_a_lang_dir_without_the_models_target_tokenizer_is_refused(data, trained, tmp_path):
    # Invariant: decoding refuses, before any work, a lang dir without a target tokenizer
    # (naming the file and its maker) and one whose target tokenizer is not the model's.
    root, pairs = data
    argv = ["--exp-dir", str(trained), "--cuts", str(root / "pairs.jsonl.gz")]
    with pytest.raises(SystemExit, match=r"no target_tokenizer/.* local/prepare_st.py"):
        decode_bin.main([*argv, "--lang-dir", str(tmp_path)])
    cfg = TargetTokenizerConfig(vocab_size=50)
    train_target_tokenizer(target_texts(pairs), tmp_path / "target_tokenizer", cfg)
    with pytest.raises(SystemExit, match="is not the target tokenizer of the model"):
        decode_bin.main([*argv, "--lang-dir", str(tmp_path)])


def test_an_export_carries_the_target_tokenizer_and_decodes_alike(data, trained, tmp_path):
    # Invariant: the target tokenizer is kept next to the model and travels with an export,
    # which then decodes without a lang dir to the hypotheses of the exp dir.
    from xlsr.bin import export as export_bin

    root, _ = data
    tok = root / "lang" / "target_tokenizer"
    for name in ("target_tokenizer.json", "target.model"):
        assert (trained / "target_tokenizer" / name).read_bytes() == (tok / name).read_bytes()
    out = tmp_path / "model"
    assert export_bin.main(["--exp-dir", str(trained), "--out", str(out)]) == 0
    argv = ["--cuts", str(root / "pairs.jsonl.gz"), "--test-set", "e", "--max-len-b", "3"]
    assert decode_bin.main(["--model", str(out), *argv]) == 0
    ours = ["--exp-dir", str(trained), "--lang-dir", str(root / "lang"), *argv]
    assert decode_bin.main(ours) == 0
    exported = _rows(out / "decode" / "greedy_search" / "hyps-e.jsonl")
    assert exported == _rows(trained / "decode" / "greedy_search" / "hyps-e.jsonl")
    assert len(exported) == 8


def test_the_ctc_head_decodes_the_source_transcript_once_per_utterance(data, trained, tmp_path):
    # Invariant: ctc_greedy_search writes the joint model's ASR output (its CTC head, greedy)
    # scored by WER / CER against the normalised source transcripts, each source utterance
    # once (an English utterance has a pair per target language); the hypotheses are those
    # of the head computed here by hand. A model without a CTC head is refused.
    import xlsr
    from xlsr.data.tokenizer import Tokenizer

    root, pairs = data
    argv = ["--exp-dir", str(trained), "--lang-dir", str(root / "lang")]
    argv += ["--cuts", str(root / "pairs.jsonl.gz"), "--test-set", "t"]
    assert decode_bin.main([*argv, "--methods", "ctc_greedy_search,greedy_search"]) == 0
    out = trained / "decode" / "ctc_greedy_search"
    rows = {r["id"]: r for r in _rows(out / "hyps-t.jsonl")}
    sources = {c.id.rsplit("_", 1)[0]: c for c in pairs}
    assert sorted(rows) == sorted(sources) and len(rows) == 6 < len(pairs)
    model, tok = xlsr.load_model(trained).model, Tokenizer(root / "lang" / "tokenizer")
    for origin, cut in sources.items():
        assert rows[origin]["ref"] == cut.supervisions[0].text
        wav = torch.from_numpy(cut.load_audio()).float()
        with torch.no_grad():
            hidden, frames = model.encode(wav, torch.tensor([wav.shape[1]]))
            best = model.ctc_head(hidden)[0, : int(frames[0])].argmax(-1)
        ids = [i for i in torch.unique_consecutive(best).tolist() if i != 0]
        assert rows[origin]["hyp"] == tok.decode(ids)
    score = json.loads((out / "score-t.json").read_text())
    assert score["num_utterances"] == 6 and "wer" in score and "cer" in score
    no_ctc = {"st": {**ST_YAML["st"], "ctc_weight": 0.0}}
    (tmp_path / "st.yaml").write_text(yaml.safe_dump(no_ctc))
    args = tiny_train_args(root / "lang", root / "pairs.jsonl.gz", tmp_path / "exp")
    conf = ["--config", str(tmp_path / "st.yaml"), "--max-update", "1"]
    assert train_bin.main(["--task", "st", *args, *conf]) == 0
    argv[1] = str(tmp_path / "exp")
    with pytest.raises(SystemExit, match="has no CTC head"):
        decode_bin.main([*argv, "--methods", "ctc_greedy_search"])


def test_joint_ctc_attention_rescoring_needs_a_target_ctc(data, trained, tmp_path):
    # Invariant: a model trained with a CTC over the target tokens (--st-ctc-target target:
    # head of vocab_size outputs) decodes beam_search --ctc-weight W, each utterance's hyp
    # the best of its beam n-best by joint score; the CTC head of the source transcript
    # cannot score translations and a target CTC is no ASR: both refused, naming the fix.
    root, pairs = data
    args = tiny_train_args(root / "lang", root / "pairs.jsonl.gz", tmp_path / "exp")
    conf = ["--config", str(root / "st.yaml"), "--max-update", "2", "--st-ctc-target", "target"]
    assert train_bin.main(["--task", "st", *args, *conf]) == 0
    state = torch.load(tmp_path / "exp" / "checkpoint-2.pt", map_location="cpu", weights_only=False)
    assert state["model"]["ctc_head.weight"].shape[0] == state["config"]["st"]["vocab_size"]
    argv = ["--lang-dir", str(root / "lang"), "--cuts", str(root / "pairs.jsonl.gz")]
    argv += ["--test-set", "t", "--beam", "3", "--max-len-b", "4", "--methods", "beam_search"]
    assert decode_bin.main(["--exp-dir", str(tmp_path / "exp"), *argv, "--ctc-weight", "0.5"]) == 0
    rows = _rows(tmp_path / "exp" / "decode" / "beam_search" / "hyps-t.jsonl")
    assert len(rows) == len(pairs) and all(len(r["hyp"].split()) <= 4 for r in rows)
    with pytest.raises(SystemExit, match="cannot score translations"):
        decode_bin.main(["--exp-dir", str(trained), *argv, "--ctc-weight", "0.5"])
    argv[-1] = "ctc_greedy_search"
    with pytest.raises(SystemExit, match="over the target tokens"):
        decode_bin.main(["--exp-dir", str(tmp_path / "exp"), *argv])
