#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [--lang de] [--lm-text FILE] [options]
#
# Word-level ASR of one VoxPopuli language (European Parliament speech, 16 languages with
# transcriptions; CTC on an XLS-R encoder, k2 graph decoding). Everything a language makes is
# named by it: data/<lang>/..., exp/<lang>/<head>/. Download and segmentation: VoxPopuli's own
# scripts, see README.md.
#   stage 0: check that --corpus-dir/transcribed_data/<lang> holds asr_{train,dev,test}.tsv and
#            <year>/<id>.ogg (and explain the layout and the two voxpopuli commands when not)
#   stage 1: lhotse manifests and cuts of train, dev, test (local/prepare_voxpopuli.py: 16 kHz
#            Ogg Vorbis segments; text = normalized_text through the text normaliser, speaker =
#            speaker_id; rows whose ogg is missing are skipped and counted, more than
#            --max-missing of a split stops), and with --lm-text its sentences as LM text
#                                                   -> data/<lang>/manifests/, data/<lang>/lm_text/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/<lang>/lang_char/ (--model-type char)
#                                                     or data/<lang>/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model (conf/train_asr_<head>.yaml) -> exp/<lang>/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<lang>/<head>/decode/
#   stage 6 (asked for: --stage 6 --stop-stage 6): ONNX export (fp32, int8), decode --test-sets
#            with sherpa-onnx and onnxruntime   -> exp/<lang>/<head>/onnx/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README); stages
# 2-6 are the shared utils/asr_stages.sh. Stage 1's marker records the options, the md5 of
# the three TSVs and of --lm-text, and the number of ogg files (not their contents).
#
# Options (defaults below): --stage --stop-stage --corpus-dir --lang --lm-text --max-missing
#   --num-jobs --vocab-size --model-type --per-language --lm-orders --modified-ctc --head
#   --encoder-preset --xlsr-checkpoint --max-update --train-overlay --shar --exp-dir --methods
#   --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
set -euo pipefail
cd "$(dirname "$0")"

# ------------------------------------------------ options (a per-language copy edits these)
stage=0
stop_stage=5
corpus_dir=download/voxpopuli   # the --root of VoxPopuli's scripts: holds transcribed_data/<lang>/
lang=de                  # a VoxPopuli ASR language: en de fr es pl it ro hu cs nl fi hr sk sl et lt
lm_text=""               # extra LM sentences, one a line (lm_data/<lang>/sentences.txt of get_lm_data)
max_missing=0.05         # stage 1 stops when more than this share of a split has no ogg file
num_jobs=8               # processes reading audio headers in stage 1
vocab_size=500
model_type=char          # char | unigram | bpe
per_language=false
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc (conf/{train,decode}_asr_ctc.yaml; a transducer needs its own conf)
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_asr_<head>.yaml (50000, the paper's VoxPopuli value)
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
[[ $max_missing =~ ^(0(\.[0-9]*)?|\.[0-9]+|1(\.0*)?)$ ]] \
  || die "--max-missing must be a share of a split between 0 and 1 such as 0.05, got '$max_missing'"
[[ $lang =~ ^[a-z]{2}$ ]] \
  || die "--lang must be a VoxPopuli ASR language code (en de fr es pl it ro hu cs nl fi hr sk sl et lt), got '$lang'"
[ -z "$lm_text" ] || [ -f "$lm_text" ] \
  || die "--lm-text $lm_text: no such file (VoxPopuli's LM text is lm_data/$lang/sentences.txt after python -m voxpopuli.get_lm_data --root ROOT --lang $lang; a relative path is taken from $(pwd))"
[ -n "$exp_dir" ] || exp_dir=exp/$lang/$head
[ -f "conf/train_asr_$head.yaml" ] && [ -f "conf/decode_asr_$head.yaml" ] \
  || die "--head $head: no conf/{train,decode}_asr_$head.yaml in this recipe (copy and adapt egs/numbers/ASR/conf/*_asr_$head.yaml)"
. utils/asr_stages.sh    # the ASR stages 2-5, shared by ASR recipes
asr_check_options
lang_dir=data/$lang/${lang_dir#data/}   # data/<lang>/lang_char or data/<lang>/lang_bpe_<n>

seg_dir=$corpus_dir/transcribed_data/$lang
manifests_marker=data/$lang/manifests/.done
lm_text_dir=""                   # with --lm-text: data/<lang>/lm_text/<lang>.txt (stage 1)
[ -z "$lm_text" ] || lm_text_dir=data/$lang/lm_text
count_segments() { find -L "$seg_dir" -mindepth 2 -maxdepth 2 -name '*.ogg' 2>/dev/null | wc -l; }
fp_manifests() {
  stage_fingerprint corpus_dir="$corpus_dir" lang="$lang" lm_text="$lm_text" \
    max_missing="$max_missing" segments="$(count_segments)" -- \
    "$seg_dir"/asr_{train,dev,test}.tsv ${lm_text:+"$lm_text"}
}
cuts_of() { echo "data/$lang/manifests/voxpopuli_${lang}_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

# layout DIR: how VoxPopuli's scripts leave a language (for the stage 0 errors).
layout() {
  cat <<EOT
the output of VoxPopuli's ASR scripts (https://github.com/facebookresearch/voxpopuli):
  $1/transcribed_data/$lang/asr_train.tsv
  $1/transcribed_data/$lang/asr_dev.tsv
  $1/transcribed_data/$lang/asr_test.tsv
  $1/transcribed_data/$lang/<year>/<id>.ogg   (16 kHz Ogg Vorbis, one segment per TSV row)
Each TSV has a header line (id raw_text normalized_text speaker_id split gender
is_gold_transcript accent). Make it with, in a clone of that repository:
  python -m voxpopuli.download_audios --root $1 --subset asr
  python -m voxpopuli.get_asr_data --root $1 --lang $lang
(see README.md)
EOT
}

if run_stage 0 "check the corpus: $seg_dir"; then
  if [ ! -d "$seg_dir" ]; then
    [ ! -d "$corpus_dir/raw_audios/original" ] \
      || die "no $seg_dir, but $corpus_dir/raw_audios/original exists: the sessions are downloaded, not yet cut into segments; run python -m voxpopuli.get_asr_data --root $corpus_dir --lang $lang. Expected $(layout "$corpus_dir")"
    die "no VoxPopuli language '$lang' at --corpus-dir $corpus_dir: $seg_dir does not exist. Expected $(layout "$corpus_dir")"
  fi
  for s in train dev test; do
    [ -f "$seg_dir/asr_$s.tsv" ] || die "no $seg_dir/asr_$s.tsv. Expected $(layout "$corpus_dir")"
    head -n1 "$seg_dir/asr_$s.tsv" | tr '\t' '\n' | grep -qx normalized_text \
      || die "$seg_dir/asr_$s.tsv: its first line is not a header with a 'normalized_text' column. Expected $(layout "$corpus_dir")"
  done
  n=$(count_segments)
  [ "$n" -gt 0 ] || die "no segments in $seg_dir: no $seg_dir/<year>/*.ogg (get_asr_data did not cut the audio). Expected $(layout "$corpus_dir")"
  log "found $n segments in $seg_dir; $(for s in train dev test; do echo -n "$s $(($(wc -l <"$seg_dir/asr_$s.tsv") - 1)) "; done)rows${lm_text:+; LM text $lm_text}"
fi

if run_stage 1 "lhotse manifests${lm_text:+ and LM text} of $lang"; then
  task_data $PYTHON local/prepare_voxpopuli.py --corpus-dir "$corpus_dir" --lang "$lang" \
    --output-dir "data/$lang/manifests" ${lm_text:+--lm-text "$lm_text" --lm-text-dir "$lm_text_dir"} \
    --num-jobs "$num_jobs" --max-missing "$max_missing"
fi

asr_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
