#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [--lang german] [--audio-format flac|opus]
#                 [--train-subset 10h|1h|9h|full] [options]
#
# Word-level ASR of one Multilingual LibriSpeech language (MLS, OpenSLR 94: read audiobooks
# in english german dutch french spanish italian portuguese polish), CTC on an XLS-R encoder,
# k2 graph decoding. By default it trains on the 10 h limited-supervision subset, the XLS-R
# paper's MLS setting. Everything a language makes is named by it: data/<lang>/...,
# exp/<lang>/<head>/. Download: see README.md.
#   stage 0: check that --corpus-dir/mls_<lang> (flac; mls_<lang>_opus for --audio-format opus)
#            holds {train,dev,test}/transcripts.txt and audio/, and the subset's handles.txt
#            (and explain the layout when it does not)
#   stage 1: lhotse manifests and cuts of train (restricted to --train-subset), dev, test
#            (local/prepare_mls.py: 16 kHz flac or opus as they are; text = the transcript,
#            speaker = its first field), and the training transcripts outside the subset
#            as LM text                             -> data/<lang>/manifests/, data/<lang>/lm_text/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/<lang>/lang_char/ (--model-type char)
#                                                     or data/<lang>/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model (conf/train_asr_<head>.yaml) -> exp/<lang>/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<lang>/<head>/decode/
#   stage 6 (asked for: --stage 6 --stop-stage 6): ONNX export (fp32, int8), decode --test-sets
#            with sherpa-onnx and onnxruntime   -> exp/<lang>/<head>/onnx/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README); stages
# 2-6 are the shared utils/asr_stages.sh. Stage 1's marker records the options and the md5
# of the transcripts, the limited-supervision lists and metainfo.txt (not the audio).
#
# Options (defaults below): --stage --stop-stage --corpus-dir --lang --audio-format
#   --train-subset --num-jobs --vocab-size --model-type --per-language --lm-orders
#   --modified-ctc --head --encoder-preset --xlsr-checkpoint --max-update --train-overlay --shar
#   --exp-dir --methods --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
set -euo pipefail
cd "$(dirname "$0")"

# ------------------------------------------------ options (a per-language copy edits these)
stage=0
stop_stage=5
corpus_dir=download/mls  # holds mls_<lang>/ (flac) or mls_<lang>_opus/ as the archives unpack
lang=german              # the archive's language: english german dutch french spanish italian portuguese polish
audio_format=flac        # flac (mls_<lang>/) | opus (mls_<lang>_opus/)
train_subset=10h         # 10h (9hr + the six 1hr lists; the XLS-R paper's) | 1h | 9h | full
num_jobs=8               # processes reading audio headers in stage 1
vocab_size=500
model_type=char          # char | unigram | bpe
per_language=false
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc (conf/{train,decode}_asr_ctc.yaml; a transducer needs its own conf)
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_asr_<head>.yaml (20000, the paper's MLS value)
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
[[ $lang =~ ^[a-z]+$ ]] \
  || die "--lang must be an MLS language as the archive names it (english german dutch french spanish italian portuguese polish), got '$lang'"
check_choice audio_format flac opus
check_choice train_subset 10h 1h 9h full
[ -n "$exp_dir" ] || exp_dir=exp/$lang/$head
[ -f "conf/train_asr_$head.yaml" ] && [ -f "conf/decode_asr_$head.yaml" ] \
  || die "--head $head: no conf/{train,decode}_asr_$head.yaml in this recipe (copy and adapt egs/numbers/ASR/conf/*_asr_$head.yaml)"
. utils/asr_stages.sh    # the ASR stages 2-5, shared by ASR recipes
asr_check_options
lang_dir=data/$lang/${lang_dir#data/}   # data/<lang>/lang_char or data/<lang>/lang_bpe_<n>

mls_dir=mls_$lang
[ "$audio_format" = flac ] || mls_dir=mls_${lang}_$audio_format
src=$corpus_dir/$mls_dir
manifests_marker=data/$lang/manifests/.done
lm_text_dir=data/$lang/lm_text    # <lang>.txt: training transcripts outside the subset (stage 1)
fp_manifests() {    # missing files are recorded as missing
  stage_fingerprint corpus_dir="$corpus_dir" lang="$lang" audio_format="$audio_format" \
    train_subset="$train_subset" -- "$src"/{train,dev,test}/transcripts.txt \
    "$src/train/limited_supervision" "$src/metainfo.txt"
}
cuts_of() { echo "data/$lang/manifests/mls_${lang}_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

# layout DIR: how an unpacked MLS language must look (for the stage 0 errors).
layout() {
  cat <<EOT
the unpacked archive of one MLS language (https://www.openslr.org/94/: mls_${lang}.tar.gz for
flac, mls_${lang}_opus.tar.gz for opus):
  $1/$mls_dir/{train,dev,test}/transcripts.txt   (<spk>_<book>_<utt> TAB text)
  $1/$mls_dir/{train,dev,test}/audio/<spk>/<book>/<spk>_<book>_<utt>.$audio_format
  $1/$mls_dir/train/limited_supervision/1hr/{0..5}/handles.txt
  $1/$mls_dir/train/limited_supervision/9hr/handles.txt
  $1/$mls_dir/metainfo.txt   (optional: speakers' gender)
Unpack the archive in --corpus-dir so that it holds $mls_dir/ (see README.md).
EOT
}

# subset_lists: the handles.txt files of --train-subset (none for full)
subset_lists() {
  local d=$src/train/limited_supervision n
  case "$train_subset" in 1h | 10h) for n in 0 1 2 3 4 5; do echo "$d/1hr/$n/handles.txt"; done ;; esac
  case "$train_subset" in 9h | 10h) echo "$d/9hr/handles.txt" ;; esac
}

if run_stage 0 "check the corpus: $src"; then
  if [ ! -d "$src" ]; then
    hint=""
    other=mls_${lang}_opus
    [ "$audio_format" = flac ] || other=mls_$lang
    [ -d "$corpus_dir/$other" ] && hint=" ($corpus_dir/$other exists: pass --audio-format $([ "$audio_format" = flac ] && echo opus || echo flac) to use it)"
    die "no MLS language '$lang' ($audio_format) at --corpus-dir $corpus_dir: $src does not exist$hint. Expected $(layout "$corpus_dir")"
  fi
  for s in train dev test; do
    [ -f "$src/$s/transcripts.txt" ] || die "no $src/$s/transcripts.txt. Expected $(layout "$corpus_dir")"
    [ -d "$src/$s/audio" ] && [ -n "$(find -L "$src/$s/audio" -maxdepth 3 -name "*.$audio_format" -print -quit)" ] \
      || die "no audio in $src/$s: no $src/$s/audio/<spk>/<book>/*.$audio_format. Expected $(layout "$corpus_dir")"
  done
  n_subset=0
  for f in $(subset_lists); do
    [ -f "$f" ] || die "no $f, needed by --train-subset $train_subset (or use --train-subset full). Expected $(layout "$corpus_dir")"
    n_subset=$((n_subset + $(grep -c . "$f" || true)))
  done
  [ "$train_subset" = full ] || log "--train-subset $train_subset: $n_subset utterance ids in $(subset_lists | wc -l) handles.txt"
  log "found $(for s in train dev test; do echo -n "$s $(grep -c . "$src/$s/transcripts.txt" || true) "; done)transcripts in $src"
fi

if run_stage 1 "lhotse manifests and LM text of $lang ($audio_format, train subset $train_subset)"; then
  task_data $PYTHON local/prepare_mls.py --corpus-dir "$corpus_dir" --lang "$lang" \
    --audio-format "$audio_format" --train-subset "$train_subset" \
    --output-dir "data/$lang/manifests" --lm-text-dir "$lm_text_dir" --num-jobs "$num_jobs"
fi

asr_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
