#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Speaker identification and verification (SID) on the embedded numbers corpus: a speaker is
# one voice setting (espeak-ng voice variant, rate and pitch); ten languages.
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs; validate_data on the cuts; the SID splits:
#            the training speakers' utterances with a held-out share per speaker
#            (sid_cuts_{train,dev,test}: identification), the unseen dev/test speakers
#            (sid_cuts_veri) and their verification trials (sid_trials_veri.txt) -> data/manifests/
#   stage 2: the label dictionary (the training speakers) -> data/lang_sid/labels.txt
#   stage 3: nothing (no graphs for SID)
#   stage 4: train the pooling classifier on the encoder -> exp/sid/
#   stage 5: decode --test-sets: "test" by identification (argmax: fairseq's report, hyps,
#            score, confusion files), "veri" by verification (cosine scores of the trials'
#            embeddings: EER, minDCF)    -> exp/sid/decode/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README).
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number
#   --numbers-per-utt --languages --speakers-per-lang --eval-speakers-per-lang --seed
#   --num-jobs --allow-bad-data --test-fraction --encoder-preset --xlsr-checkpoint
#   --max-update --exp- dir --test-sets --views --methods
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
num_utterances=2000      # corpus size, all languages and splits
max_number=9999          # cardinals 0..max_number
numbers_per_utt=1,6      # MIN,MAX numbers spoken per utterance: about 0.5-19 s
languages=en,de,fr,es,it,pl,ru,nl,pt,cs
speakers_per_lang=12        # voice settings per language, of which dev and test get
eval_speakers_per_lang=3    # this many each (unseen in training)
seed=0
num_jobs=2
allow_bad_data=false     # true: go on when validate_data (stage 1) finds cuts to drop
test_fraction=0.15       # share of each training speaker's utterances held out for test
task=sid
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune instead
max_update=""            # default: conf/train_sid.yaml
exp_dir=""               # default exp/sid
test_sets="test veri"    # test: identification; veri: verification of unseen speakers
views=""                 # crops per utterance (default: conf/decode_sid.yaml)
methods=""               # identification sets (default: conf/decode_sid.yaml, argmax)

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
. utils/numbers_data.sh  # the numbers corpus stages 0-1, shared by the numbers recipes
numbers_check_options
check_numbers test_fraction
. utils/cls_stages.sh    # the classification stages 2-5
cls_check_options

# the SID splits replace the corpus' speaker-disjoint ones
cuts_of() { echo "data/manifests/sid_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
trials=data/manifests/sid_trials_veri.txt
fp_manifests() { stage_fingerprint test_fraction="$test_fraction" -- data/corpus/metadata.jsonl; }
numbers_extra_splits() {  # called by stage 1 after the manifests
  $PYTHON local/prepare_sid_splits.py --train-cuts data/manifests/numbers_cuts_train.jsonl.gz \
    --unseen-cuts data/manifests/numbers_cuts_{dev,test}.jsonl.gz --output-dir data/manifests \
    --test-fraction "$test_fraction" --seed "$seed" 2>&1 | tee -a "$1"
}
# the verification set is decoded by its trials, the others by identification
decode_set_args() { [ "$1" != veri ] || echo "--methods verify --trials $trials"; }
decode_set_files() { [ "$1" != veri ] || echo "$trials"; }
mkdir -p exp/log

numbers_data_stages   # stages 0-1
cls_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
