#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Multilingual spoken-numbers ASR (the embedded corpus, synthesised with espeak-ng).
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs; validate_data on the cuts -> data/manifests/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/lang_char/ (--model-type char) or
#                                                     data/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model: --head ctc (k2 CTC loss) or transducer (k2 pruned RNN-T loss)
#                                                   -> exp/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<head>/decode/
#
# Stage markers: each stage writes its marker last, after its work succeeded
# (data/corpus/.done, data/manifests/.done, <lang dir>/.lang.done, <lang dir>/.graphs.done,
# exp/<head>/.done, exp/<head>/decode/.done-<test set>). A marker holds the fingerprint of
# the stage's inputs: its options and the md5 of the files it read. A stage is skipped only
# when its marker matches the current inputs; otherwise it reruns, and a stage refuses to
# start from an earlier stage's output that has no matching marker (an interrupted stage).
# Stale exp dirs: when stage 4's inputs (lang dir, manifests, conf, training options) differ
# from those the existing exp/<head> was trained from, that exp dir is moved aside to
# exp/<head>.stale-<YYYYmmdd-HHMMSS> (logged with the reason) and training starts afresh;
# an interrupted training of the same inputs, or a larger --max-update, resumes it.
# Logs: every stage that runs logs to a new exp/log/stage<N>-<YYYYmmdd-HHMMSS>.log
# (exp/log/stage<N>.log links the newest); a skipped stage writes none.
# Bad data: stage 1 runs xlsr.bin.validate_data on the train/dev/test cuts and stops when
# a cut would be dropped (report: data/manifests/validate_data.json) unless
# --allow-bad-data true.
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number --languages --seed
#   --num-jobs --allow-bad-data --vocab-size --model-type --per-language --lm-orders
#   --modified-ctc --head --encoder-preset --xlsr-checkpoint --max-update --exp-dir --methods
#   --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
#   transducer: --beam-size --beam --max-contexts --max-states --ngram-lm-scales --num-paths
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
num_utterances=3000      # corpus size, all languages and splits
max_number=9999          # cardinals 0..max_number
languages=en,de,fr,es,it,pl,ru,nl,pt,cs
seed=0
num_jobs=2
allow_bad_data=false     # true: go on when validate_data (stage 1) finds cuts to drop
vocab_size=500
model_type=char          # char | unigram | bpe (char learns fastest for the tiny encoder)
per_language=false       # one tokenizer per language (token table = union)
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc | transducer: the task asr_<head> (conf/{train,decode}_asr_<head>.yaml)
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune instead
max_update=""            # default: conf/train_asr_<head>.yaml (ctc 1600, transducer 3200)
exp_dir=""               # default exp/<head>
test_sets="test"         # "dev test" for both
ctc_loss=k2              # k2 | torch
# Decoding: methods and options default to conf/decode_asr_<head>.yaml (every method of the
# head); a value given here overrides the conf's.
methods=""
lm_scales=""             # CTC *-rescoring
num_paths=""             # CTC nbest*, transducer fast_beam_search_nbest_LG
search_beam=""           # CTC graph search
output_beam=""
max_active_states=""
beam_size=""             # transducer modified_beam_search
beam=""                  # transducer fast_beam_search*
max_contexts=""
max_states=""
ngram_lm_scales=""       # transducer fast_beam_search_nbest_LG: LG weights

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
check_int num_utterances max_number seed num_jobs
check_choice allow_bad_data true false
. utils/asr_stages.sh   # the ASR stages 2-5, shared by ASR recipes
asr_check_options

# ------------------------------------------------- the inputs of each stage (its fingerprint)
fp_corpus() {
  stage_fingerprint num_utterances="$num_utterances" languages="$languages" \
    max_number="$max_number" seed="$seed" -- data/corpus/.complete data/corpus/metadata.jsonl
}
fp_manifests() { stage_fingerprint -- data/corpus/metadata.jsonl; }
# what the shared stages (utils/asr_stages.sh) read of this corpus
train_cuts=data/manifests/numbers_cuts_train.jsonl.gz
dev_cuts=data/manifests/numbers_cuts_dev.jsonl.gz
lm_text_dir=data/corpus/lm_text   # every number of the domain spelled out (external LM text)
cuts_of() { echo "data/manifests/numbers_cuts_$1.jsonl.gz"; }
manifests_marker=data/manifests/.done
mkdir -p exp/log

# ------------------------------------------------------------------------------ the stages
if run_stage 0 "synthesise the numbers corpus"; then
  if stage_is_done data/corpus/.done "$(fp_corpus)"; then
    log "data/corpus is up to date (data/corpus/.done), skipping"
  else
    rm -f data/corpus/.done
    slog=$(stage_log 0)
    $PYTHON local/synthesize_numbers.py --corpus-dir data/corpus --num-utterances "$num_utterances" \
      --languages "$languages" --max-number "$max_number" --seed "$seed" --num-jobs "$num_jobs" \
      2>&1 | tee -a "$slog"
    mark_done data/corpus/.done "$(fp_corpus)"
  fi
fi

# check_data LOG: validate_data on the cuts of every split; stops on cuts that would be
# dropped unless --allow-bad-data true (then data/manifests/.bad_data names the report).
check_data() {
  local report=data/manifests/validate_data.json rc=0
  $PYTHON -m xlsr.bin.validate_data data/manifests/numbers_cuts_{train,dev,test}.jsonl.gz \
    --json "$report" 2>&1 | tee -a "$1" || rc=$?
  if [ $rc -eq 1 ] && [ "$allow_bad_data" = true ]; then
    log "WARNING: validate_data found cuts that will be skipped (report: $report); going on (--allow-bad-data true)" | tee -a "$1"
    echo "$report" >data/manifests/.bad_data
  elif [ $rc -eq 1 ]; then
    die "validate_data found cuts that would be dropped (report: $report, log: $1): fix the corpus, or pass --allow-bad-data true to skip them"
  elif [ $rc -ne 0 ]; then
    die "validate_data failed (exit $rc, log: $1)"
  fi
}

if run_stage 1 "lhotse manifests and Kaldi data dirs"; then
  if stage_is_done data/manifests/.done "$(fp_manifests)"; then
    if [ -f data/manifests/.bad_data ] && [ "$allow_bad_data" != true ]; then
      die "data/manifests has cuts that would be dropped (report: $(cat data/manifests/.bad_data)): pass --allow-bad-data true, or fix the corpus and rerun stage 1"
    fi
    log "data/manifests is up to date (data/manifests/.done), skipping"
  else
    require_done data/corpus/.done "$(fp_corpus)" "data/corpus is not a finished corpus of these options: run stage 0"
    rm -f data/manifests/.done data/manifests/.bad_data
    slog=$(stage_log 1)
    $PYTHON local/prepare_numbers.py --corpus-dir data/corpus --output-dir data/manifests \
      2>&1 | tee -a "$slog"
    check_data "$slog"
    mark_done data/manifests/.done "$(fp_manifests)"
  fi
fi


# stages 2-5: language side, graphs, training, decoding and scoring (utils/asr_stages.sh)
asr_run_stages

log "Done (stages $stage..$stop_stage)"
