"""Decode any task and score it: every utterance of the test set accounted for.

Usage:
    python -m xlsr.bin.decode --task asr_ctc --exp-dir exp/ctc --lang-dir data/lang_char \\
        --cuts data/manifests/numbers_cuts_test.jsonl.gz [--test-set test] \\
        [--config conf/decode_asr_ctc.yaml] [--methods ctc-greedy-search,1best,...] \\
        [--checkpoint averaged|last|PATH] [--epoch 10 --avg 3] [--iter N --avg K \\
        --use-averaged-model] [--skipped-utts deleted|excluded] [method options ...]
    python -m xlsr.bin.decode --exp-dir exp/ctc ...        # the task from exp/ctc/config.yaml
    python -m xlsr.bin.decode --model exported-dir --cuts recordings/   # audio files, no scoring
    python -m xlsr.bin.decode --model exp/ctc --lang-dir data/lang_char --cuts data/kaldi/test
    python -m xlsr.bin.decode --task asr_ctc --hf-model wav2vec2-ctc-dir --exp-dir exp/hf ...
    python -m xlsr.bin.decode --task lid --model xlsr_300m_voxlingua107_ft.pt \
        --lang-dir data/lang_lid --cuts data/manifests/numbers_cuts_test.jsonl.gz \
        --exp-dir exp/released --views 10 --max-sample-size 160000
    python -m xlsr.bin.decode --task lid --model wav2vec2-seq-cls-dir --lang-dir data/lang_lid \
        --cuts ... --exp-dir exp/hf_lid               # or --hf-model wav2vec2-seq-cls-dir
    python -m xlsr.bin.decode --task sid --exp-dir exp/sid --lang-dir data/lang_sid \
        --cuts data/manifests/numbers_cuts_veri.jsonl.gz --methods verify \
        --trials data/sid/trials.txt [--similarity mean_latent_sim] [--p-target 0.01]

--model: an exp dir, an exported model dir (python -m xlsr.bin.export; it brings its lang dir,
so --lang-dir is optional), a checkpoint file, a Hugging Face Wav2Vec2ForCTC or
Wav2Vec2ForSequenceClassification dir, a fairseq wav2vec_ctc checkpoint (dict.ltr.txt beside
it) or a fairseq wav2vec_classification checkpoint (the released XLS-R LID model; labels from
its task_state, else dict.<labels>.txt or labels.txt beside it, else --lang-dir's labels.txt);
the task comes from it (an external classifier: lid, unless --task sid), the results go to its
directory (or --exp-dir). An external classifier brings its labels: --lang-dir needs no
labels.txt, and one that is there must hold the model's labels in class-id order. --cuts (or
--input): a lhotse cut manifest, a Kaldi data dir (wav.scp, optional text and segments) or
audio files and directories (any format soundfile reads, any sample rate and channels).

Methods and their options (each option is a field of the method's config dataclass; YAML
``--config`` has ``methods:`` and ``options:``): asr_ctc: ctc-greedy-search, ctc-decoding,
1best, nbest, nbest-rescoring, whole-lattice-rescoring (--search-beam, --output-beam,
--min-active-states, --max-active-states, --num-paths, --nbest-scale, --lm-scales);
asr_transducer: greedy_search, modified_beam_search, fast_beam_search,
fast_beam_search_nbest_LG (--max-sym-per-frame, --beam-size, --beam, --max-contexts,
--max-states, --num-paths, --nbest-scale, --ngram-lm-scales); lid, sid: argmax
(identification) and verify (speaker verification over --trials), both over views of each
utterance (--views, --max-sample-size, --seed, --merge mean_prob|mean_logit|mean_raw_logit,
--npz true: fairseq's embeddings-<test_set>.npz), verify also --trials, --p-target,
--similarity mean_latent_sim|first_latent_sim|mean_logit_sim|first_logit_sim.

Writes, per method (and LM scale), EXP_DIR/decode/<method>/hyps-<test_set>.jsonl,
score-<test_set>.json and errs-<test_set>.txt, and EXP_DIR/decode/summary-<test_set>.txt;
ctc-greedy-search adds word times ("words": [{"word", "start", "end"}], seconds) to its
hyps lines. argmax writes hyps (with the "top" labels), score (accuracy overall, 0-5 s,
5-20 s), report-, confusion-<test_set>.txt/.png; verify scores-<test_set>.txt (a score per
trial) and score (eer, min_dcf), ranked in summary-eer-<test_set>.txt beside argmax. Without
references (audio files, a Kaldi dir without text) it writes hyps-<test_set>.jsonl (ref "")
and transcripts-<test_set>.txt (id<TAB>text) and scores nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from xlsr.bin.task_option import resolve_task
from xlsr.tasks import Task, get_task
from xlsr.tasks.decoding import decode_main


def decode_task(argv: Optional[List[str]]) -> Task:
    """``--task``, else the task of ``--model`` (or ``--hf-model``), else the one
    ``--exp-dir`` records."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    pre.add_argument("--model")
    pre.add_argument("--hf-model")
    known, _ = pre.parse_known_args(sys.argv[1:] if argv is None else argv)
    given = ("--model", known.model) if known.model is not None else ("--hf-model", known.hf_model)
    if known.task is None and given[1] is not None:
        from xlsr.models.fairseq_hf import CheckpointError
        from xlsr.tasks.load import model_kind, task_of_path

        option, path = given
        try:
            model_kind(path)
        except CheckpointError as e:
            raise SystemExit(f"decode: {option} {e}") from e
        name = task_of_path(path)
        if name is None:
            raise SystemExit(f"decode: {option} {path}: no model of a known task; give --task")
        return get_task(name)
    return resolve_task(argv, "decode")


def main(argv: Optional[List[str]] = None) -> int:
    task = decode_task(argv)
    return decode_main(argv, task, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
