#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [--lang fr] [options]
#
# Word-level ASR of one Common Voice language (CTC on an XLS-R encoder, k2 graph decoding).
# Everything a language makes is named by it: data/<lang>/..., exp/<lang>/<head>/. A
# per-language copy (egs/commonvoice/ASR_fr) changes only the options block below or conf/
# (see README.md). Download: see README.md.
#   stage 0: check that --corpus-dir/<lang> holds clips/*.mp3 and {train,dev,test}.tsv
#            (and explain the layout when it does not)
#   stage 1: lhotse manifests and cuts of train, dev, test (local/prepare_commonvoice.py:
#            mp3 at 48 kHz, resampled to 16 kHz on load; text = the normalised sentence,
#            speaker = client_id), and the validated sentences in no split as LM text
#                                                   -> data/<lang>/manifests/, data/<lang>/lm_text/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/<lang>/lang_char/ (--model-type char)
#                                                     or data/<lang>/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model (conf/train_asr_<head>.yaml) -> exp/<lang>/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<lang>/<head>/decode/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README); stages
# 2-5 are the shared utils/asr_stages.sh. Stage 1's marker records the options and the md5
# of the four TSVs (not the clips).
#
# Options (defaults below): --stage --stop-stage --corpus-dir --lang --num-jobs --vocab-size
#   --model-type --per-language --lm-orders --modified-ctc --head --encoder-preset
#   --xlsr-checkpoint --max-update --train-overlay --shar --exp-dir --methods --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
set -euo pipefail
cd "$(dirname "$0")"

# ------------------------------------------------ options (a per-language copy edits these)
stage=0
stop_stage=5
corpus_dir=download/commonvoice   # holds <lang>/clips/*.mp3 and <lang>/{train,dev,test,validated}.tsv
lang=fr                  # the language's directory in --corpus-dir (fr, de, cy, pt...)
num_jobs=8               # processes reading audio headers in stage 1
vocab_size=500
model_type=char          # char | unigram | bpe
per_language=false
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc (conf/{train,decode}_asr_ctc.yaml; a transducer needs its own conf)
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_asr_<head>.yaml (13000, the paper's Common Voice value)
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
check_stages 5 "$@"
check_int num_jobs
[[ $lang =~ ^[A-Za-z]+(-[A-Za-z0-9]+)*$ ]] \
  || die "--lang must be a Common Voice language code such as fr, cy or zh-TW, got '$lang'"
[ -n "$exp_dir" ] || exp_dir=exp/$lang/$head
[ -f "conf/train_asr_$head.yaml" ] && [ -f "conf/decode_asr_$head.yaml" ] \
  || die "--head $head: no conf/{train,decode}_asr_$head.yaml in this recipe (copy and adapt egs/numbers/ASR/conf/*_asr_$head.yaml)"
. utils/asr_stages.sh    # the ASR stages 2-5, shared by ASR recipes
asr_check_options
lang_dir=data/$lang/${lang_dir#data/}   # data/<lang>/lang_char or data/<lang>/lang_bpe_<n>

manifests_marker=data/$lang/manifests/.done
lm_text_dir=data/$lang/lm_text    # <lang>.txt: validated sentences in no split (stage 1)
fp_manifests() {    # a missing validated.tsv is recorded as missing
  stage_fingerprint corpus_dir="$corpus_dir" lang="$lang" -- \
    "$corpus_dir/$lang"/{train,dev,test,validated}.tsv
}
cuts_of() { echo "data/$lang/manifests/commonvoice_${lang}_cuts_$1.jsonl.gz"; }
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

# layout DIR: how a Common Voice language directory must look (for the stage 0 errors).
layout() {
  cat <<EOT
the language's directory of an unpacked Common Voice release (https://commonvoice.mozilla.org/datasets):
  $1/$lang/clips/common_voice_${lang}_<n>.mp3
  $1/$lang/train.tsv
  $1/$lang/dev.tsv
  $1/$lang/test.tsv
  $1/$lang/validated.tsv   (optional: extra LM text)
Each TSV has a header line (client_id path sentence up_votes down_votes age gender accents
locale segment ...); unpack the release's tar.gz so that --corpus-dir holds <lang>/ (see README.md).
EOT
}

if run_stage 0 "check the corpus: $corpus_dir/$lang"; then
  d=$corpus_dir/$lang
  [ -d "$d" ] || die "no Common Voice language '$lang' at --corpus-dir $corpus_dir: $d does not exist. Expected $(layout "$corpus_dir")"
  [ -d "$d/clips" ] && [ -n "$(find -L "$d/clips" -maxdepth 1 -name '*.mp3' -print -quit)" ] \
    || die "no clips in $d: no $d/clips/*.mp3. Expected $(layout "$corpus_dir")"
  for s in train dev test; do
    [ -f "$d/$s.tsv" ] || die "no $d/$s.tsv. Expected $(layout "$corpus_dir")"
    head -n1 "$d/$s.tsv" | tr '\t' '\n' | grep -qx sentence \
      || die "$d/$s.tsv: its first line is not a header with a 'sentence' column. Expected $(layout "$corpus_dir")"
  done
  log "found $(find -L "$d/clips" -maxdepth 1 -name '*.mp3' | wc -l) clips in $d/clips; $(for s in train dev test; do echo -n "$s $(($(wc -l <"$d/$s.tsv") - 1)) "; done)rows"
fi

if run_stage 1 "lhotse manifests and LM text of $lang"; then
  if stage_is_done "$manifests_marker" "$(fp_manifests)"; then
    log "data/$lang/manifests is up to date ($manifests_marker), skipping"
  else
    rm -f "$manifests_marker"
    slog=$(stage_log 1)
    $PYTHON local/prepare_commonvoice.py --corpus-dir "$corpus_dir" --lang "$lang" \
      --output-dir "data/$lang/manifests" --lm-text-dir "$lm_text_dir" --num-jobs "$num_jobs" \
      2>&1 | tee -a "$slog"
    mark_done "$manifests_marker" "$(fp_manifests)"
  fi
fi

asr_run_stages        # stages 2-5

log "Done (stages $stage..$stop_stage)"
