#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Speaker identification (and verification) on VoxCeleb1 (1251 celebrities, YouTube speech),
# the XLS-R paper's SID benchmark: train on the identification split's train set, report the
# accuracy on its test set; with the cleaned trials (veri_test2.txt), also EER and minDCF.
# Download: see README.md.
#   stage 0: check --corpus-dir (wav/id1xxxx/<YouTube id>/NNNNN.wav), --iden-split and, when
#            it exists, --trials (and explain the layout when something is missing)
#   stage 1: lhotse manifests and cuts (local/prepare_voxceleb1.py): train, dev, test of the
#            identification split (supervision speaker = the id1xxxx directory); veri: the
#            utterances the trials name, and the trials with cut ids -> data/manifests/
#   stage 2: the label dictionary (the training cuts' speakers) -> data/lang_sid/labels.txt
#   stage 3: nothing (no graphs for SID)
#   stage 4: train the classifier on the encoder (conf/train_sid.yaml) -> exp/sid/
#   stage 5: decode --test-sets: "test" by identification (argmax: fairseq's report, hyps,
#            score, confusion files), "veri" by verification (cosine scores of the trials'
#            embeddings: EER, minDCF)    -> exp/sid/decode/
#
# The verification speakers (id10270-id10309) are in the identification split's train set:
# their embeddings come from the model trained on them, so the EER is not VoxCeleb1-O's
# (which trains on other speakers); it checks the embeddings, the paper reports accuracy.
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README).
#
# Options (defaults below): --stage --stop-stage --corpus-dir --iden-split --trials
#   --num-jobs --encoder-preset --xlsr-checkpoint --max-update --train-overlay --shar --exp-dir
#   --test-sets --views --methods
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
corpus_dir=download/voxceleb1  # holds wav/id1xxxx/<YouTube id>/NNNNN.wav
iden_split=""            # default <corpus-dir>/iden_split.txt (lines "<1|2|3> <wav path>")
trials=""                # default <corpus-dir>/veri_test2.txt; verification runs when it exists
num_jobs=8               # processes reading audio headers in stage 1
task=sid
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_sid.yaml
train_overlay=""         # YAML layered over conf/train_sid.yaml (utils/conf/xlsr_2b.yaml for 2B)
shar=false               # true: stage 3 packs the training cuts into lhotse Shar shards, stage 4 reads them
exp_dir=""               # default exp/sid
test_sets=""             # default "test", and "veri" when the trials exist; "dev test veri"...
views=""                 # crops per utterance (default: conf/decode_sid.yaml)
methods=""               # identification sets (default: conf/decode_sid.yaml, argmax)

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
check_int num_jobs
[ -n "$iden_split" ] || iden_split=$corpus_dir/iden_split.txt
trials_given=true
[ -n "$trials" ] || { trials=$corpus_dir/veri_test2.txt; trials_given=false; }
use_trials=false
[ ! -f "$trials" ] || use_trials=true
[ -n "$test_sets" ] || { test_sets=test; ! $use_trials || test_sets="test veri"; }
. utils/cls_stages.sh    # the classification stages 2-5
cls_check_options

manifests_marker=data/manifests/.done
veri_trials=data/manifests/voxceleb1_trials_veri.txt
fp_manifests() {
  local files=("$iden_split")
  ! $use_trials || files+=("$trials")
  stage_fingerprint corpus_dir="$corpus_dir" use_trials="$use_trials" -- "${files[@]}"
}
cuts_of() { echo "data/manifests/voxceleb1_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
# the verification set is decoded by its trials, the others by identification
decode_set_args() { [ "$1" != veri ] || echo "--methods verify --trials $veri_trials"; }
decode_set_files() { [ "$1" != veri ] || echo "$veri_trials"; }
mkdir -p exp/log

# layout: how VoxCeleb1 must look (for the stage 0 errors).
layout() {
  cat <<EOF
the VoxCeleb1 wav files (16 kHz mono) below wav/, one directory per speaker and per YouTube
video, with the identification split (and optionally the cleaned verification trials):
  $corpus_dir/wav/id10001/1zcIwhmdeo4/00001.wav
  $corpus_dir/wav/id10001/...
  $corpus_dir/wav/id11251/...
  $corpus_dir/iden_split.txt    (--iden-split; lines "<1|2|3> id10001/1zcIwhmdeo4/00001.wav")
  $corpus_dir/veri_test2.txt    (--trials; lines "<1|0> <enrol wav path> <test wav path>")
See README.md for the downloads.
EOF
}

# check_list FILE OPTION: FILE exists and the wav file that its first line names is there.
check_list() {
  local file=$1 option=$2 first
  [ -f "$file" ] || die "missing $option file $file. Expected $(layout)"
  first=$(awk 'NF { print $NF; exit }' "$file")
  [ -n "$first" ] || die "$option $file is empty. Expected $(layout)"
  [ -f "$corpus_dir/wav/$first" ] \
    || die "$option $file names $first, but $corpus_dir/wav/$first is missing. Expected $(layout)"
}

if run_stage 0 "check the corpus: $corpus_dir, $iden_split, $trials"; then
  [ -d "$corpus_dir" ] || die "no VoxCeleb1 at --corpus-dir $corpus_dir: the directory does not exist. Expected $(layout)"
  [ -n "$(find -L "$corpus_dir/wav" -mindepth 3 -maxdepth 3 -name '*.wav' -print -quit 2>/dev/null)" ] \
    || die "no $corpus_dir/wav/<speaker>/<video>/*.wav (--corpus-dir). Expected $(layout)"
  check_list "$iden_split" --iden-split
  if $use_trials; then
    check_list "$trials" --trials
  elif $trials_given; then
    die "missing --trials file $trials. Expected $(layout)"
  else
    log "no trials file $trials: identification only (verification needs veri_test2.txt)"
  fi
  log "found $(find -L "$corpus_dir/wav" -mindepth 1 -maxdepth 1 -type d | wc -l) speaker directories in $corpus_dir/wav"
fi

if run_stage 1 "lhotse manifests and cuts"; then
  trials_opt=()
  ! $use_trials || trials_opt=(--trials "$trials")
  task_data $PYTHON local/prepare_voxceleb1.py --corpus-dir "$corpus_dir" --iden-split "$iden_split" \
    ${trials_opt[@]+"${trials_opt[@]}"} --output-dir data/manifests --num-jobs "$num_jobs"
fi

cls_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
