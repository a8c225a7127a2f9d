#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [--lang fr] [options]
#
# Word-level ASR of one Common Voice language (CTC on an XLS-R encoder, k2 graph decoding).
# Everything a language makes is named by it: data/<lang>/..., exp/<lang>/<head>/. A
# per-language copy (egs/commonvoice/ASR_fr) changes only the options block below or conf/
# (see README.md). Download: see README.md.
#
# --unit phone: the XLS-R paper's Common Voice setting (few-shot phoneme recognition after
# Rivière et al. 2020, scored as PER) with CPC_audio's splits and phone transcriptions in
# --phone-dir (common_voices_splits.tar.gz, README.md): train = the --phone-hours (1 or 5) h
# list, dev = the same list, test = the test list; text = one letter per phone (table in
# data/<lang>_phone<h>h/phones.txt), so --model-type char (forced) gives one letter per phone,
# the phone LM is trained on the training transcripts alone, and the WER of stage 5 is the PER.
# Everything goes to data/<lang>_phone<h>h/ and exp/<lang>_phone<h>h/ (<lang> below).
#   stage 0: check that --corpus-dir/<lang> holds clips/*.mp3 and {train,dev,test}.tsv
#            (and explain the layout when it does not); --unit phone: clips/*.mp3 and the
#            phone files in --phone-dir/<lang> (the TSVs only give speakers)
#   stage 1: lhotse manifests and cuts of train, dev, test (local/prepare_commonvoice.py:
#            mp3 at 48 kHz, resampled to 16 kHz on load; text = the normalised sentence,
#            speaker = client_id), and the validated sentences in no split as LM text
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
# 2-6 are the shared utils/asr_stages.sh. Stage 1's marker records the options and the md5
# of the four TSVs (and with --unit phone of the phone file and lists), not the clips.
#
# Options (defaults below): --stage --stop-stage --corpus-dir --lang --num-jobs --vocab-size
#   --model-type --per-language --lm-orders --modified-ctc --head --encoder-preset
#   --unit --phone-dir --phone-lang --phone-hours --xlsr-checkpoint --max-update
#   --train-overlay --shar --exp-dir --methods --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
set -euo pipefail
cd "$(dirname "$0")"

# ------------------------------------------------ options (a per-language copy edits these)
stage=0
stop_stage=5
corpus_dir=download/commonvoice   # holds <lang>/clips/*.mp3 and <lang>/{train,dev,test,validated}.tsv
lang=fr                  # the language's directory in --corpus-dir (fr, de, cy, pt...)
num_jobs=8               # processes reading audio headers in stage 1
unit=word                # word | phone (the paper's few-shot phoneme recognition, PER; README.md)
phone_dir=download/common_voices_splits   # --unit phone: CPC_audio's splits, holds <phone-lang>/
phone_lang=""            # --unit phone: the language's directory in --phone-dir (default: --lang)
phone_hours=1            # --unit phone: 1 or 5 (trainSeqs_<h>.0_uniform_new_version.txt)
vocab_size=500
model_type=char          # char | unigram | bpe (--unit phone: char only)
per_language=false
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc (conf/{train,decode}_asr_ctc.yaml; a transducer needs its own conf)
encoder_preset=xlsr_300m # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt...)
max_update=""            # default: conf/train_asr_<head>.yaml (13000, the paper's Common Voice value)
train_overlay=""         # YAML layered over conf/train_asr_<head>.yaml (utils/conf/xlsr_2b.yaml for 2B)
shar=false               # true: stage 3 packs the training cuts into lhotse Shar shards, stage 4 reads them
exp_dir=""               # default exp/<lang>/<head> (--unit phone: exp/<lang>_phone<h>h/<head>)
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
[[ $lang =~ ^[A-Za-z]+(-[A-Za-z0-9]+)*$ ]] \
  || die "--lang must be a Common Voice language code such as fr, cy or zh-TW, got '$lang'"
check_choice unit word phone
check_choice phone_hours 1 5
[ -n "$phone_lang" ] || phone_lang=$lang
if [ "$unit" = phone ]; then
  [ "$model_type" = char ] \
    || die "--unit phone needs --model-type char (one letter, hence one CTC token, per phone), got '$model_type'"
  run_name=${lang}_phone${phone_hours}h   # data/<run_name>, exp/<run_name>: apart from the word-level run
  phones=$phone_dir/$phone_lang
else
  run_name=$lang
fi
[ -n "$exp_dir" ] || exp_dir=exp/$run_name/$head
[ -f "conf/train_asr_$head.yaml" ] && [ -f "conf/decode_asr_$head.yaml" ] \
  || die "--head $head: no conf/{train,decode}_asr_$head.yaml in this recipe (copy and adapt egs/numbers/ASR/conf/*_asr_$head.yaml)"
. utils/asr_stages.sh    # the ASR stages 2-5, shared by ASR recipes
asr_check_options
lang_dir=data/$run_name/${lang_dir#data/}   # data/<run_name>/lang_char or .../lang_bpe_<n>

manifests_marker=data/$run_name/manifests/.done
lm_text_dir=data/$run_name/lm_text    # <lang>.txt: validated sentences in no split (stage 1)
phone_files=(validated_phones_reduced.txt "trainSeqs_${phone_hours}.0_uniform_new_version.txt"
             testSeqs_uniform_new_version.txt)
if [ "$unit" = phone ]; then
  lm_text_dir=""                  # the phone LM: the training transcripts alone
  fp_manifests() {  # the TSVs give the speakers
    stage_fingerprint corpus_dir="$corpus_dir" lang="$lang" unit=phone phone_dir="$phone_dir" \
      phone_lang="$phone_lang" phone_hours="$phone_hours" -- \
      "${phone_files[@]/#/$phones/}" "$corpus_dir/$lang"/{train,dev,test,validated}.tsv
  }
else
  fp_manifests() {    # a missing validated.tsv is recorded as missing
    stage_fingerprint corpus_dir="$corpus_dir" lang="$lang" -- \
      "$corpus_dir/$lang"/{train,dev,test,validated}.tsv
  }
fi
cuts_of() { echo "data/$run_name/manifests/commonvoice_${lang}_cuts_$1.jsonl.gz"; }
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
# phone_layout: how --phone-dir must look with --unit phone (for the stage 0 errors).
phone_layout() {
  cat <<EOT
CPC_audio's phone transcriptions and splits of Rivière et al. (2020), unpacked from
https://dl.fbaipublicfiles.com/cpc_audio/common_voices_splits.tar.gz so that --phone-dir holds
  $phone_dir/$phone_lang/validated_phones_reduced.txt          <clip name> <phone id> ...
  $phone_dir/$phone_lang/trainSeqs_1.0_uniform_new_version.txt  1 h of clip names, one a line
  $phone_dir/$phone_lang/trainSeqs_5.0_uniform_new_version.txt  5 h
  $phone_dir/$phone_lang/testSeqs_uniform_new_version.txt
(--phone-lang names the directory when it is not --lang; see README.md).
EOT
}

if run_stage 0 "check the corpus: $corpus_dir/$lang"; then
  d=$corpus_dir/$lang
  [ -d "$d" ] || die "no Common Voice language '$lang' at --corpus-dir $corpus_dir: $d does not exist. Expected $(layout "$corpus_dir")"
  [ -d "$d/clips" ] && [ -n "$(find -L "$d/clips" -maxdepth 1 -name '*.mp3' -print -quit)" ] \
    || die "no clips in $d: no $d/clips/*.mp3. Expected $(layout "$corpus_dir")"
  if [ "$unit" = phone ]; then
    [ -d "$phones" ] || die "--unit phone: no phone directory $phones (--phone-dir $phone_dir, --phone-lang $phone_lang). Expected $(phone_layout)"
    for f in "${phone_files[@]}"; do
      [ -s "$phones/$f" ] || die "--unit phone: no $phones/$f. Expected $(phone_layout)"
    done
    # (the TSVs, when there, only give speakers)
    log "found $(find -L "$d/clips" -maxdepth 1 -name '*.mp3' | wc -l) clips in $d/clips; $(wc -l <"$phones/${phone_files[0]}") phone transcriptions, train list (${phone_hours} h) $(wc -l <"$phones/${phone_files[1]}"), test list $(wc -l <"$phones/${phone_files[2]}") in $phones"
  else
    for s in train dev test; do
      [ -f "$d/$s.tsv" ] || die "no $d/$s.tsv. Expected $(layout "$corpus_dir")"
      head -n1 "$d/$s.tsv" | tr '\t' '\n' | grep -qx sentence \
        || die "$d/$s.tsv: its first line is not a header with a 'sentence' column. Expected $(layout "$corpus_dir")"
    done
    log "found $(find -L "$d/clips" -maxdepth 1 -name '*.mp3' | wc -l) clips in $d/clips; $(for s in train dev test; do echo -n "$s $(($(wc -l <"$d/$s.tsv") - 1)) "; done)rows"
  fi
fi

if run_stage 1 "lhotse manifests and LM text of $run_name"; then
  if [ "$unit" = phone ]; then
    unit_args=(--unit phone --phone-dir "$phones" --phone-hours "$phone_hours"
               --phones-table "data/$run_name/phones.txt")
  else
    unit_args=(--lm-text-dir "$lm_text_dir")
  fi
  task_data $PYTHON local/prepare_commonvoice.py --corpus-dir "$corpus_dir" --lang "$lang" \
    --output-dir "data/$run_name/manifests" "${unit_args[@]}" --num-jobs "$num_jobs"
fi

asr_run_stages        # stages 2-5

if [ "$unit" = phone ] && [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  for t in $test_sets; do   # the scorer says WER: over phone "words" it is the PER
    log "$t: PER (the WER of phone words; symbols in data/$run_name/phones.txt): $(sed -n 3p "$exp_dir/decode/summary-$t.txt")"
  done
fi
log "Done (stages $stage..$stop_stage)"
