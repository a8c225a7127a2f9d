#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Spoken language identification (LID) on the embedded numbers corpus: ten languages,
# utterances of several numbers (about 1-20 s), test speakers unseen in training.
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs; validate_data on the cuts -> data/manifests/
#   stage 2: the label dictionary (the training cuts' languages) -> data/lang_lid/labels.txt
#   stage 3: nothing (no graphs for LID)
#   stage 4: train the pooling classifier on the encoder -> exp/lid/
#   stage 5: decode --test-sets with --views crops per utterance (the XLS-R LID evaluation),
#            print fairseq's report, write hyps/score/report/confusion files -> exp/lid/decode/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README).
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number
#   --numbers-per-utt --languages --speakers-per-lang --eval-speakers-per-lang --seed
#   --num-jobs --allow-bad-data --encoder-preset --xlsr-checkpoint --max-update --exp-dir
#   --test-sets --views --methods
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
num_utterances=2000      # corpus size, all languages and splits
max_number=9999          # cardinals 0..max_number
numbers_per_utt=1,6      # MIN,MAX numbers spoken per utterance: about 0.5-19 s
languages=en,de,fr,es,it,pl,ru,nl,pt,cs
speakers_per_lang=8         # voice settings per language, of which dev and test get
eval_speakers_per_lang=1    # this many each (unseen in training)
seed=0
num_jobs=2
allow_bad_data=false     # true: go on when validate_data (stage 1) finds cuts to drop
task=lid
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune instead
max_update=""            # default: conf/train_lid.yaml
exp_dir=""               # default exp/lid
test_sets="test"         # "dev test" for both
views=""                 # crops per utterance (default: conf/decode_lid.yaml, 10 as the paper)
methods=""               # default: conf/decode_lid.yaml (argmax)

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
. utils/numbers_data.sh  # the numbers corpus stages 0-1, shared by the numbers recipes
numbers_check_options
. utils/cls_stages.sh    # the classification stages 2-5
cls_check_options

train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

numbers_data_stages   # stages 0-1
cls_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
