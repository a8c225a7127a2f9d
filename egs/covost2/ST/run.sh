#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [--x-en-langs "fr de"] [options]
#
# Speech translation on CoVoST 2 (Common Voice v4 clips + CoVoST's translation TSVs): one
# multilingual X -> En model (the --x-en-langs sources, all 21 by default, into English) and
# one En -> X model (English into the --en-x-langs targets, all 15 by default, each forced by
# its language tag), each an XLS-R encoder (--xlsr-checkpoint) with a length adaptor and an
# attention decoder. Download and layout: see README.md.
#   stage 0: check --corpus-dir (<lang>/clips/*.mp3, <lang>/validated.tsv) and --covost-dir
#            (covost_v2.<src>_<tgt>.tsv) for every language needed, explain the layout
#   stage 1: per direction (local/prepare_covost2.py): recordings of the clips (mp3 headers
#            read in --num-jobs processes; English clips once for all targets), supervisions
#            with the normalised sentence and the translations, and the translation pairs
#            (one cut per clip and target: train = train + train_covost, dev, test)
#                                  -> data/manifests/covost2_<dir>_*, st_cuts_<split>_<dir>
#   stage 2: per direction: target tokenizer with language tags, source characters, text
#            normaliser (local/prepare_st.py --from-pairs)   -> data/lang_st_<dir>/
#   stage 3: nothing (the encoder is XLS-R: --xlsr-checkpoint; without one it trains from
#            scratch, as the tests do)
#   stage 4: train per direction (conf/train_st.yaml)          -> exp/st_<dir>/
#   stage 5: decode --test-sets, BLEU / chrF per language pair -> exp/st_<dir>/decode/
#
# Stages 2-5 are the shared utils/st_stages.sh; markers, logs and stale exp dirs work as in
# egs/numbers/ASR (see its README). Stage 1's marker of a direction records its languages
# and the md5 of the TSVs it reads (not the clips): changing --x-en-langs remakes the x-en
# pairs, lang dir and model (the old exp/st_x-en is moved aside), never the en-x ones.
#
# Options (defaults below): --stage --stop-stage --corpus-dir --covost-dir --directions
#   --x-en-langs --en-x-langs --num-jobs --cased --target-vocab-size --encoder-preset
#   --xlsr-checkpoint --max-update --train-overlay --train-jobs --test-sets --methods
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
corpus_dir=download/cv4          # Common Voice v4: <lang>/clips/*.mp3, <lang>/validated.tsv
covost_dir=download/covost2      # covost_v2.<src>_<tgt>.tsv (unpacked .tsv.tar.gz)
directions="x-en en-x"           # the models to build: x-en (sources -> en), en-x (en -> targets)
x_en_langs="fr de es ca it ru zh-CN pt fa et mn nl tr ar sv-SE lv sl ta ja id cy"
en_x_langs="de ca zh-CN fa et mn tr ar sv-SE lv sl ta ja id cy"
num_jobs=8                       # processes reading mp3 headers in stage 1
cased=true                       # texts keep case and punctuation (BLEU on the corpus' spelling)
target_vocab_size="x-en=8000 en-x=32000"  # target sentencepiece size per direction
encoder_preset=xlsr_300m         # the architecture (with --xlsr-checkpoint: the checkpoint's)
xlsr_checkpoint=""               # fairseq/HF XLS-R checkpoint to fine-tune (xlsr2_300m.pt)
max_update=""                    # default: conf/train_st.yaml
train_overlay=""                 # YAML layered over conf/train_st.yaml (utils/conf/xlsr_2b.yaml for 2B)
train_jobs=1                     # directions trained at once in stage 4 (1: one after the other)
test_sets="test"                 # "dev test" for both
methods=""                       # default: conf/decode_st.yaml

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
check_int num_jobs
check_choice cased true false
pretrain=false                   # no stage-3 CTC pretraining here (not an option)
pretrain_max_update=""
st_pairs_in_stage1=true          # stage 1 writes the pairs; stage 2 makes the lang dirs
st_prepare_opts=()
[ "$cased" = false ] || st_prepare_opts=(--cased)
. utils/st_stages.sh             # the ST stages 2-5
st_check_options
# CoVoST 2's sources and targets (as X_EN, EN_X in local/prepare_covost2.py)
X_EN="fr de es ca it ru zh-CN pt fa et mn nl tr ar sv-SE lv sl ta ja id cy"
EN_X="de ca zh-CN fa et mn tr ar sv-SE lv sl ta ja id cy"
for l in $x_en_langs; do
  [[ " $X_EN " == *" $l "* ]] || die "--x-en-langs: CoVoST 2 has no $l -> en; its sources are: $X_EN"
done
for l in $en_x_langs; do
  [[ " $EN_X " == *" $l "* ]] || die "--en-x-langs: CoVoST 2 has no en -> $l; its targets are: $EN_X"
done
[[ " $directions " != *" x-en "* ]] || [ -n "${x_en_langs// /}" ] || die "--x-en-langs is empty"
[[ " $directions " != *" en-x "* ]] || [ -n "${en_x_langs// /}" ] || die "--en-x-langs is empty"
mkdir -p exp/log

# langs_of DIR: the sources (x-en) or targets (en-x) of a direction
langs_of() { if [ "$1" = x-en ]; then echo "$x_en_langs"; else echo "$en_x_langs"; fi; }
# fp_direction DIR: the inputs of stage 1's manifests of one direction: its languages and
# the CoVoST TSVs and Common Voice validated.tsv files it reads
fp_direction() {
  local l files=()
  if [ "$1" = x-en ]; then
    for l in $x_en_langs; do files+=("$covost_dir/covost_v2.${l}_en.tsv" "$corpus_dir/$l/validated.tsv"); done
  else
    files+=("$corpus_dir/en/validated.tsv")
    for l in $en_x_langs; do files+=("$covost_dir/covost_v2.en_$l.tsv"); done
  fi
  stage_fingerprint direction="$1" langs="$(langs_of "$1")" corpus_dir="$corpus_dir" \
    covost_dir="$covost_dir" -- "${files[@]}"
}
# stage 2 of a direction requires stage 1's marker of that direction (st_direction sets it)
st_recipe_direction() { manifests_marker=data/manifests/.done-$direction; }
fp_manifests() { fp_direction "$direction"; }

# layout: how the two downloads must look (for the stage 0 errors)
layout() {
  cat <<EOT
Common Voice version 4 (https://commonvoice.mozilla.org/datasets), one directory per language:
  $corpus_dir/<lang>/clips/common_voice_<lang>_<n>.mp3
  $corpus_dir/<lang>/validated.tsv       (header: client_id path sentence ...)
and the CoVoST 2 translations (https://github.com/facebookresearch/covost), unpacked:
  $covost_dir/covost_v2.<src>_<tgt>.tsv  (from covost_v2.<src>_<tgt>.tsv.tar.gz; header: path ... translation ... split)
x-en needs <lang> = each --x-en-langs source and covost_v2.<src>_en.tsv; en-x needs <lang> = en
and covost_v2.en_<tgt>.tsv for each --en-x-langs target (see README.md).
EOT
}
# check_tsv FILE COLUMN...: FILE exists and its header line names every COLUMN
check_tsv() {
  local f=$1 c
  shift
  if [ ! -f "$f" ]; then
    [ ! -f "$f.tar.gz" ] || die "$f is still packed: run 'tar -xzf $f.tar.gz -C ${f%/*}'"
    die "no $f. Expected $(layout)"
  fi
  for c in "$@"; do
    head -n1 "$f" | tr -d '\r' | tr '\t' '\n' | grep -qx "$c" \
      || die "$f: its first line is not a header with a '$c' column. Expected $(layout)"
  done
}
check_clips() {  # check_clips LANG
  local d=$corpus_dir/$1
  [ -d "$d" ] || die "no Common Voice language '$1' at --corpus-dir $corpus_dir: $d does not exist. Expected $(layout)"
  [ -n "$(find -L "$d/clips" -maxdepth 1 -name '*.mp3' -print -quit 2>/dev/null)" ] \
    || die "no clips in $d: no $d/clips/*.mp3. Expected $(layout)"
  check_tsv "$d/validated.tsv" path sentence client_id
}

if run_stage 0 "check the corpus: $corpus_dir, $covost_dir ($directions)"; then
  for d in $directions; do
    if [ "$d" = x-en ]; then
      for l in $x_en_langs; do
        check_clips "$l"
        check_tsv "$covost_dir/covost_v2.${l}_en.tsv" path translation split
      done
    else
      check_clips en
      for l in $en_x_langs; do check_tsv "$covost_dir/covost_v2.en_$l.tsv" path translation split; done
    fi
    log "$d: the clips and TSVs of $(langs_of "$d" | wc -w) language(s) are in place"
  done
fi

if run_stage 1 "lhotse manifests and translation pairs ($directions)"; then
  for d in $directions; do
    marker=data/manifests/.done-$d
    if stage_is_done "$marker" "$(fp_direction "$d")"; then
      log "the $d manifests are up to date ($marker), skipping"
      continue
    fi
    rm -f "$marker"
    slog=$(stage_log 1)
    $PYTHON local/prepare_covost2.py --corpus-dir "$corpus_dir" --covost-dir "$covost_dir" \
      --direction "$d" --langs "$(langs_of "$d")" --output-dir data/manifests \
      --num-jobs "$num_jobs" 2>&1 | tee -a "$slog"
    mark_done "$marker" "$(fp_direction "$d")"
  done
fi

st_run_stages         # stages 2-5, per direction

log "Done (stages $stage..$stop_stage)"
