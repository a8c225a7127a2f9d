#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Spoken language identification on VoxLingua107 (107 languages, YouTube speech), the XLS-R
# paper's LID benchmark: train on the training data, test on the official dev set (1609
# utterances, 33 languages) with the release note's evaluation. Download: see README.md.
#   stage 0: check that --corpus-dir and --dev-dir hold <lang>/<video id>---<start>-<end>.wav
#            (and explain the layout when they do not)
#   stage 1: lhotse manifests and cuts (local/prepare_voxlingua107.py): train, dev (whole
#            videos held out of train, --dev-per-lang utterances per language), test (the
#            official dev set)                                   -> data/manifests/
#   stage 2: the label dictionary (the training cuts' languages) -> data/lang_lid/labels.txt
#   stage 3: nothing (no graphs for LID)
#   stage 4: train the classifier on the encoder (conf/train_lid.yaml) -> exp/lid/
#   stage 5: decode --test-sets with --views crops per utterance (conf/decode_lid.yaml: the
#            release note's 10 views of 10 s), fairseq's report    -> exp/lid/decode/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README). Stage
# 1's marker records the options, not the files: after changing the corpus in place, rerun
# with `rm data/manifests/.done`.
#
# Options (defaults below): --stage --stop-stage --corpus-dir --dev-dir --langs --dev-per-lang
#   --num-jobs --encoder-preset --xlsr-checkpoint --max-update --train-overlay --shar --exp-dir
#   --test-sets --views --methods
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
corpus_dir=download/voxlingua107      # the training data: <lang>/<video id>---<start>-<end>.wav
dev_dir=download/voxlingua107_dev     # the official dev set, same layout (our test set)
langs=""                 # comma-separated ISO codes (en,iw,jw...); default: every directory found
dev_per_lang=20          # training utterances per language held out for validation (whole videos)
num_jobs=8               # processes reading audio headers in stage 1
task=lid
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_lid.yaml
train_overlay=""         # YAML layered over conf/train_lid.yaml (utils/conf/xlsr_2b.yaml for 2B)
shar=false               # true: stage 3 packs the training cuts into lhotse Shar shards, stage 4 reads them
exp_dir=""               # default exp/lid
test_sets="test"         # "dev test" for both
views=""                 # crops per utterance (default: conf/decode_lid.yaml, 10 as the paper)
methods=""               # default: conf/decode_lid.yaml (argmax)

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
check_int dev_per_lang num_jobs
[[ -z $langs || $langs =~ ^[a-z]+(,[a-z]+)*$ ]] \
  || die "--langs must be comma-separated language codes such as en,iw,ceb, got '$langs'"
. utils/cls_stages.sh    # the classification stages 2-5
cls_check_options

manifests_marker=data/manifests/.done
fp_manifests() {
  stage_fingerprint corpus_dir="$corpus_dir" dev_dir="$dev_dir" langs="$langs" \
    dev_per_lang="$dev_per_lang"
}
cuts_of() { echo "data/manifests/voxlingua107_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

# layout DIR: how a VoxLingua107 directory must look (for the stage 0 errors).
layout() {
  cat <<EOF
one directory per language (ISO code), each holding 16 kHz mono wav files named
<YouTube video id>---<start>-<end>.wav, as in the zips of https://bark.phon.ioc.ee/voxlingua107/:
  $1/en/<video id>---<start>-<end>.wav
  $1/en/...
  $1/iw/...
  $1/ceb/...
Unzip each language's zip (en.zip, iw.zip...) into the --corpus-dir and the dev set's zip
into the --dev-dir (see README.md).
EOF
}

# check_corpus DIR WHAT OPTION: DIR has <lang>/*.wav, and (train) every --langs directory.
check_corpus() {
  local dir=$1 what=$2 option=$3 lang
  [ -d "$dir" ] || die "no $what at $option $dir: the directory does not exist. Expected $(layout "$dir")"
  [ -n "$(find -L "$dir" -mindepth 2 -maxdepth 2 -name '*.wav' -print -quit)" ] \
    || die "no $what in $option $dir: no <lang>/*.wav below it. Expected $(layout "$dir")"
  if [ "$option" = --corpus-dir ]; then
    for lang in ${langs//,/ }; do
      [ -d "$dir/$lang" ] || die "--langs $lang: no directory $dir/$lang. Expected $(layout "$dir")"
    done
  fi
}

if run_stage 0 "check the corpus: $corpus_dir (train), $dev_dir (test)"; then
  check_corpus "$corpus_dir" "VoxLingua107 training data" --corpus-dir
  check_corpus "$dev_dir" "VoxLingua107 dev set" --dev-dir
  log "found $(find -L "$corpus_dir" -mindepth 1 -maxdepth 1 -type d | wc -l) language directories in $corpus_dir, $(find -L "$dev_dir" -mindepth 1 -maxdepth 1 -type d | wc -l) in $dev_dir"
fi

if run_stage 1 "lhotse manifests and cuts"; then
  task_data $PYTHON local/prepare_voxlingua107.py --corpus-dir "$corpus_dir" --dev-dir "$dev_dir" \
    --output-dir data/manifests --langs "$langs" --dev-per-lang "$dev_per_lang" \
    --num-jobs "$num_jobs"
fi

cls_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
