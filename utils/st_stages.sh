#!/usr/bin/env bash
# The generic stages 2-5 of speech translation recipes (task st), after the recipe's own
# data stages (0-1): `. utils/st_stages.sh`, `st_check_options`, then `st_run_stages`.
#
#   stage 2: per direction: the translation pairs (one cut per utterance and target
#            language) and the lang dir: target tokenizer with language tags, the source
#            characters for the auxiliary CTC, the text normaliser (local/prepare_st.py)
#                                          -> data/manifests/st_cuts_<split>_<dir>.jsonl.gz,
#                                             data/lang_st_<dir>/
#   stage 3: CTC pretraining of the shared encoder on every language's train transcripts
#            (python -m xlsr.bin.train --task asr_ctc --config conf/pretrain_ctc.yaml, torch
#            CTC; the from-scratch stand-in for XLS-R pretraining; --pretrain false or an
#            --xlsr-checkpoint skips it)        -> data/lang_st_src/, exp/ctc_src/
#   stage 4: python -m xlsr.bin.train --task st --config conf/train_st.yaml, per direction,
#            from the stage-3 encoder (or --xlsr-checkpoint); --train-jobs directions at once
#                                          -> exp/st_<dir>/
#   stage 5: python -m xlsr.bin.decode --task st --config conf/decode_st.yaml on every
#            --test-sets set: BLEU / chrF per language pair (sacrebleu)
#                                          -> exp/st_<dir>/decode/
#
# The recipe defines, before sourcing this file: its options (as egs/numbers/ST/run.sh:
# directions target_vocab_size encoder_preset xlsr_checkpoint pretrain pretrain_max_update
# max_update train_jobs test_sets methods), manifests_marker and fp_manifests. Optionally:
#   st_pairs_in_stage1=true   the recipe's stage 1 wrote the pairs (st_cuts_<split>_<dir>,
#                             e.g. egs/covost2/ST): stage 2 builds the lang dir from the
#                             train pairs alone (local/prepare_st.py --from-pairs); default
#                             false: stage 2 makes them from data/manifests/numbers_cuts_*
#   st_prepare_opts=(...)     more options of local/prepare_st.py in stage 2 (--cased)
#   st_recipe_direction       a function that st_direction calls last, with $direction set
#                             (e.g. to name the direction's own manifests_marker)
#   train_overlay             the option --train-overlay: a YAML over conf/train_st.yaml in
#                             stage 4 (utils/task_stages.sh), e.g. utils/conf/xlsr_2b.yaml
# target_vocab_size is one number for every direction, or one per direction
# ("x-en=8000 en-x=32000").

. utils/task_stages.sh

: "${st_pairs_in_stage1:=false}"
declare -p st_prepare_opts >/dev/null 2>&1 || st_prepare_opts=()

# st_vocab_size: the target vocabulary size of $direction (see target_vocab_size above)
st_vocab_size() {
  local w
  if [[ $target_vocab_size =~ ^[0-9]+$ ]]; then echo "$target_vocab_size"; return; fi
  for w in $target_vocab_size; do
    [ "${w%%=*}" != "$direction" ] || { echo "${w#*=}"; return; }
  done
}

st_check_options() {
  check_train_options
  check_int train_jobs
  local w
  if ! [[ $target_vocab_size =~ ^[0-9]+$ ]]; then
    for w in $target_vocab_size; do
      [[ $w =~ ^(x-en|en-x)=[0-9]+$ ]] \
        || die "--target-vocab-size must be a number or DIRECTION=NUMBER words such as 'x-en=8000 en-x=32000', got '$target_vocab_size'"
    done
  fi
  check_choice pretrain true false
  [ -z "$pretrain_max_update" ] || check_int pretrain_max_update
  if [ -n "$xlsr_checkpoint" ] && [ "$pretrain" = true ]; then
    pretrain=false  # the given encoder is the starting point
  fi
  [ -z "$max_update" ] || check_int max_update
  local d
  [ -n "${directions// /}" ] || die "--directions must name x-en and/or en-x"
  for d in $directions; do
    [[ $d == x-en || $d == en-x ]] || die "--directions: '$d' is not a direction (x-en, en-x)"
    direction=$d
    [ -n "$(st_vocab_size)" ] || die "--target-vocab-size '$target_vocab_size' has no size for $d"
  done
  decode_opts=()
  [ -z "$methods" ] || decode_opts+=(--methods "$methods")
}

pretrained=exp/ctc_src  # the stage-3 encoder

# st_direction DIR: sets the names the shared stage functions read for one direction, or
# for the stage-3 pretraining (DIR "src": every language's transcripts, task asr_ctc)
st_direction() {
  direction=$1
  lang_dir=data/lang_st_$direction
  exp_dir=exp/st_$direction
  decode_conf=conf/decode_st.yaml
  [ "$direction" != src ] || exp_dir=$pretrained
  train_cuts=$(cuts_of train)
  dev_cuts=$(cuts_of dev)
  # a recipe whose stage 1 keeps a marker per direction sets manifests_marker here
  if declare -F st_recipe_direction >/dev/null; then st_recipe_direction; fi
}
cuts_of() {
  if [ "$direction" = src ]; then
    echo "data/manifests/numbers_cuts_$1.jsonl.gz"
  else
    echo "data/manifests/st_cuts_$1_$direction.jsonl.gz"
  fi
}
# the encoder the st models start from: --xlsr-checkpoint, else the stage-3 one (or none)
st_init() { if [ "$pretrain" = true ]; then echo "$pretrained"; else echo "$xlsr_checkpoint"; fi; }

fp_lang() {
  if [ "$st_pairs_in_stage1" = true ] && [ "$direction" != src ]; then
    stage_fingerprint direction="$direction" target_vocab_size="$(st_vocab_size)" \
      prepare_opts="${st_prepare_opts[*]-}" -- "$(cuts_of train)"
    return
  fi
  stage_fingerprint direction="$direction" target_vocab_size="$target_vocab_size" -- \
    data/manifests/numbers_cuts_{train,dev,test}.jsonl.gz
}
fp_model() {
  if [ "$direction" = src ]; then
    stage_fingerprint task=asr_ctc lang_dir="$lang_dir" encoder_preset="$encoder_preset" -- \
      "$train_cuts" "$dev_cuts" "$lang_dir"/{tokenizer,text_norm.json} conf/pretrain_ctc.yaml
    return
  fi
  # the pretrained encoder counts by its .done marker (which names its inputs)
  stage_fingerprint task=st lang_dir="$lang_dir" encoder_preset="$encoder_preset" \
    init="$(st_init)" -- "$train_cuts" "$dev_cuts" \
    "$lang_dir"/{target_tokenizer,tokenizer,text_norm.json} conf/train_st.yaml \
    $([ "$pretrain" = true ] && echo "$pretrained/.done") ${train_overlay:+"$train_overlay"}
}
fp_train() {
  fp_model
  if [ "$direction" = src ]; then
    echo "option max_update=$pretrain_max_update"
  else
    echo "option max_update=$max_update"
  fi
}
fp_decode() {  # fp_decode TEST_SET
  stage_fingerprint lang_dir="$lang_dir" opts="${decode_opts[*]-}" -- "$(cuts_of "$1")" \
    "$lang_dir"/{target_tokenizer,text_norm.json} "$decode_conf" "$exp_dir/.done" "$exp_dir"/*.pt
}

# st_train: stage 4's work for the direction st_direction set
st_train() {
  if [ "$pretrain" = true ]; then
    require_done "$pretrained/.done" "$(st_direction src && fp_train)" \
      "$pretrained has no finished CTC pretraining from the current inputs: run stage 3"
  fi
  # conf/train_st.yaml keeps a pretrained encoder frozen; a from-scratch one must learn
  local scratch=()
  [ -n "$(st_init)" ] || scratch=(--freeze-finetune-updates 0)
  xlsr_checkpoint=$(st_init) task_train st conf/train_st.yaml ${scratch[@]+"${scratch[@]}"}
}

# st_train_all: stage 4 for every direction; with --train-jobs N > 1, up to N directions
# train at once in the background, each with (cores / N) threads (two 1-thread trainings
# on 2 cores do about 1.7x the work of one 2-thread training), each one's output in
# exp/log/stage4-<dir>-<time>.out; a direction already trained from these inputs is skipped.
st_train_all() {
  local d todo=() pids=() names=() outs=() failed=() threads i
  for d in $directions; do
    st_direction "$d"
    if stage_is_done "$exp_dir/.done" "$(fp_train)"; then
      log "$exp_dir is trained from these inputs ($exp_dir/.done), skipping"
    else
      todo+=("$d")
    fi
  done
  if [ "$train_jobs" -le 1 ] || [ ${#todo[@]} -le 1 ]; then
    for d in ${todo[@]+"${todo[@]}"}; do
      st_direction "$d"
      st_train
    done
    return 0
  fi
  threads=$(( $(nproc) / train_jobs ))
  [ "$threads" -ge 1 ] || threads=1
  mkdir -p exp/log
  for d in "${todo[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$train_jobs" ]; do sleep 5; done
    st_direction "$d"
    outs+=("exp/log/stage4-$d-$(date +%Y%m%d-%H%M%S).out")
    log "training $d in $exp_dir in the background ($threads thread(s)): output in ${outs[-1]}"
    (OMP_NUM_THREADS=$threads st_train) >"${outs[-1]}" 2>&1 &
    pids+=($!)
    names+=("$d")
  done
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      log "${names[$i]}: $(grep -h 'training done' "${outs[$i]}" | tail -n 1 | sed 's/.*\] //')"
    else
      failed+=("${names[$i]} (${outs[$i]})")
    fi
  done
  [ ${#failed[@]} -eq 0 ] || die "stage 4 failed for: ${failed[*]}; the end of each output says why"
}

st_run_stages() {
  local d
  if [ "$pretrain" = true ]; then
    st_direction src
    if run_stage 2 "every language's transcripts for the encoder's CTC pretraining: $lang_dir"; then
      task_lang "$(fp_lang)" $PYTHON local/prepare_st.py --manifest-dir data/manifests \
        --sources --lang-dir "$lang_dir"
    fi
    if run_stage 3 "CTC pretraining of the shared encoder in $exp_dir"; then
      train_stage=3 xlsr_checkpoint="" max_update="$pretrain_max_update" \
        task_train asr_ctc conf/pretrain_ctc.yaml
    fi
  elif run_stage 3 "no encoder pretraining (the encoder starts from ${xlsr_checkpoint:-scratch})"; then
    :
  fi
  local from_pairs=()
  [ "$st_pairs_in_stage1" = false ] || from_pairs=(--from-pairs)
  for d in $directions; do
    st_direction "$d"
    if run_stage 2 "translation pairs and $lang_dir ($direction)"; then
      task_lang "$(fp_lang)" $PYTHON local/prepare_st.py --manifest-dir data/manifests \
        --direction "$direction" --lang-dir "$lang_dir" --vocab-size "$(st_vocab_size)" \
        ${from_pairs[@]+"${from_pairs[@]}"} ${st_prepare_opts[@]+"${st_prepare_opts[@]}"}
    fi
  done
  if run_stage 4 "train the st models ($directions) in exp/st_<dir>"; then
    st_train_all
  fi
  for d in $directions; do
    st_direction "$d"
    if run_stage 5 "decode and score ($direction: $test_sets)"; then
      check_test_sets
      require_done "$exp_dir/.done" "$(fp_train)" "$exp_dir has no finished training from the current inputs: run stage 4"
      task_decode st "$decode_conf" ${decode_opts[@]+"${decode_opts[@]}"}
    fi
  done
}
