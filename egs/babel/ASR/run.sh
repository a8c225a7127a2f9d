#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [--lang 102] [--corpus-dir DIR | --pack-dir DIR] [options]
#
# Word-level ASR of one IARPA BABEL language pack (conversational telephone speech; CTC on an
# XLS-R encoder, k2 graph decoding). --lang is the pack's BABEL language code (102 Assamese,
# 106 Tagalog, 202 Swahili, 203 Lao, 404 Georgian...); everything a language makes is named
# by it: data/<lang>/..., exp/<lang>/<head>/. Download: see README.md.
#   stage 0: find the pack (--pack-dir, or in --corpus-dir: <lang>/, *_<lang>/ or *_<lang>_*/)
#            and check that it holds conversational/{training,dev}/{audio,transcription}/
#            (and explain the layout when it does not)
#   stage 1: lhotse manifests of train, dev, test (local/prepare_babel.py: the sph/wav files
#            whole at 8 kHz, resampled to 16 kHz on load; one cut per segment between two time
#            marks, text without BABEL's tags, segments without words dropped; test = the
#            pack's dev set, dev = --dev-fraction of the training speakers' calls)
#                                                   -> data/<lang>/manifests/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/<lang>/lang_char/ (--model-type char)
#                                                     or data/<lang>/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model (conf/train_asr_<head>.yaml) -> exp/<lang>/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<lang>/<head>/decode/
#   stage 6 (asked for: --stage 6 --stop-stage 6): ONNX export (fp32, int8), decode --test-sets
#            with sherpa-onnx and onnxruntime   -> exp/<lang>/<head>/onnx/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README); stages
# 2-6 are the shared utils/asr_stages.sh. Stage 1's marker records the options and the md5 of
# the transcripts (not the audio). Audio is read by libsndfile: the toolkit's data modules let it read .sph
# where lhotse would need the sph2pipe program (xlsr.data.audio.read_sphere_with_libsndfile).
#
# Options (defaults below): --stage --stop-stage --corpus-dir --lang --pack-dir --dev-fraction
#   --num-jobs --vocab-size --model-type --per-language --lm-orders --modified-ctc --head
#   --encoder-preset --xlsr-checkpoint --max-update --train-overlay --shar --exp-dir --methods
#   --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
set -euo pipefail
cd "$(dirname "$0")"

# ------------------------------------------------ options (a per-language copy edits these)
stage=0
stop_stage=5
corpus_dir=download/babel   # holds unpacked packs: IARPA_BABEL_OP1_102/conversational/... (or 102/)
lang=102                 # BABEL language code: 102 assamese, 106 tagalog, 202 swahili, 203 lao, 404 georgian ...
pack_dir=""              # the pack's directory (holds conversational/); default: found in --corpus-dir
dev_fraction=0.1         # training speakers (all their calls) held out as the dev set
num_jobs=8               # processes reading audio headers in stage 1
vocab_size=500
model_type=char          # char | unigram | bpe
per_language=false
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc (conf/{train,decode}_asr_ctc.yaml; a transducer needs its own conf)
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_asr_<head>.yaml (26000, the paper's BABEL value)
train_overlay=""         # YAML layered over conf/train_asr_<head>.yaml (utils/conf/xlsr_2b.yaml for 2B)
shar=false               # true: stage 3 packs the training cuts into lhotse Shar shards, stage 4 reads them
exp_dir=""               # default exp/<lang>/<head>
test_sets="test"         # "dev test" for both
ctc_loss=k2              # k2 | torch
# Decoding: methods and options default to conf/decode_asr_<head>.yaml; a value here overrides.
methods=""
lm_scales=""
num_paths=""
search_beam=""
output_beam=""
max_active_states=""
beam_size=""             # transducer options (unused by --head ctc)
beam=""
max_contexts=""
max_states=""
ngram_lm_scales=""

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 6 "$@"
check_int num_jobs
[[ $lang =~ ^[0-9]{3}$ ]] \
  || die "--lang must be a BABEL language code of three digits such as 102 (Assamese) or 404 (Georgian), got '$lang'"
[[ $dev_fraction =~ ^0?\.[0-9]+$|^0$ ]] \
  || die "--dev-fraction must be a number in [0, 1) such as 0.1, got '$dev_fraction'"
[ -n "$exp_dir" ] || exp_dir=exp/$lang/$head
[ -f "conf/train_asr_$head.yaml" ] && [ -f "conf/decode_asr_$head.yaml" ] \
  || die "--head $head: no conf/{train,decode}_asr_$head.yaml in this recipe (copy and adapt egs/numbers/ASR/conf/*_asr_$head.yaml)"
. utils/asr_stages.sh    # the ASR stages 2-5, shared by ASR recipes
asr_check_options
lang_dir=data/$lang/${lang_dir#data/}   # data/<lang>/lang_char or data/<lang>/lang_bpe_<n>

# The pack: --pack-dir, or the one directory of --corpus-dir named <lang>, *_<lang> or
# *_<lang>_* (the LDC packs unpack to IARPA_BABEL_<phase>_<lang>). Empty when none is found
# (stage 0 explains); several are an error.
if [ -z "$pack_dir" ]; then
  found=()
  for d in "$corpus_dir/$lang" "$corpus_dir"/*_"$lang" "$corpus_dir"/*_"$lang"_*; do
    [ -d "$d" ] && found+=("$d")
  done
  [ ${#found[@]} -le 1 ] \
    || die "several packs of language $lang in --corpus-dir $corpus_dir: ${found[*]}; choose one with --pack-dir"
  pack_dir=${found[0]:-}
fi

manifests_marker=data/$lang/manifests/.done
lm_text_dir=""    # no extra LM text: stage 2 uses the training transcripts
fp_manifests() {
  stage_fingerprint pack_dir="$pack_dir" lang="$lang" dev_fraction="$dev_fraction" -- \
    "$pack_dir"/conversational/{training,dev}/transcription
}
cuts_of() { echo "data/$lang/manifests/babel_${lang}_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

# layout DIR: how a BABEL pack must look (for the stage 0 errors).
layout() {
  cat <<EOT
an unpacked IARPA BABEL language pack from the LDC (e.g. LDC2016S06 for 102, Assamese):
  $1/conversational/training/audio/BABEL_<phase>_${lang}_<id>_<date>_<time>_{inLine,outLine}.sph  (or .wav)
  $1/conversational/training/transcription/BABEL_<phase>_${lang}_<id>_<date>_<time>_{inLine,outLine}.txt
  $1/conversational/dev/audio/...            (the test set)
  $1/conversational/dev/transcription/...
Each transcript alternates time marks [12.345] and text. Pass the pack with --pack-dir, or put
it in --corpus-dir as <lang>/, IARPA_BABEL_<phase>_<lang>/ or *_<lang>_*/ (see README.md).
EOT
}

if run_stage 0 "check the corpus: BABEL pack $lang"; then
  if [ -z "$pack_dir" ]; then
    die "no BABEL pack of language $lang in --corpus-dir $corpus_dir: none of $corpus_dir/$lang, $corpus_dir/*_$lang, $corpus_dir/*_${lang}_* is a directory. Expected $(layout "$corpus_dir/IARPA_BABEL_<phase>_$lang")"
  fi
  [ -d "$pack_dir" ] || die "--pack-dir $pack_dir does not exist. Expected $(layout "$pack_dir")"
  for s in training dev; do
    d=$pack_dir/conversational/$s
    [ -n "$(find -L "$d/audio" -maxdepth 1 \( -name '*.sph' -o -name '*.wav' \) -print -quit 2>/dev/null)" ] \
      || die "no audio in $d: no $d/audio/*.sph or *.wav. Expected $(layout "$pack_dir")"
    [ -n "$(find -L "$d/transcription" -maxdepth 1 -name '*.txt' -print -quit 2>/dev/null)" ] \
      || die "no transcripts in $d: no $d/transcription/*.txt. Expected $(layout "$pack_dir")"
  done
  n_txt() { find -L "$pack_dir/conversational/$1/transcription" -maxdepth 1 -name '*.txt' | wc -l; }
  log "pack $pack_dir: $(n_txt training) training and $(n_txt dev) dev transcripts"
fi

if run_stage 1 "lhotse manifests of BABEL $lang"; then
  [ -n "$pack_dir" ] || die "no BABEL pack of language $lang in --corpus-dir $corpus_dir: run stage 0 (it explains the layout)"
  task_data $PYTHON local/prepare_babel.py --pack-dir "$pack_dir" --lang "$lang" \
    --output-dir "data/$lang/manifests" --dev-fraction "$dev_fraction" --num-jobs "$num_jobs"
fi

asr_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
