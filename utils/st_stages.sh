#!/usr/bin/env bash
# The generic stages 2-5 of speech translation recipes (task st), after the recipe's own
# data stages (0-1): `. utils/st_stages.sh`, `st_check_options`, then `st_run_stages`.
#
#   stage 2: per direction: the translation pairs (one cut per utterance and target
#            language) and the lang dir: target tokenizer with language tags, the source
#            characters for the auxiliary CTC, the text normaliser (local/prepare_st.py)
#                                          -> data/manifests/st_cuts_<split>_<dir>.jsonl.gz,
#                                             data/lang_st_<dir>/
#   stage 3: nothing (no graphs)
#   stage 4: python -m xlsr.bin.train --task st --config conf/train_st.yaml, per direction
#                                          -> exp/st_<dir>/
#   stage 5: python -m xlsr.bin.decode --task st --config conf/decode_st.yaml on every
#            --test-sets set: BLEU / chrF per language pair (sacrebleu)
#                                          -> exp/st_<dir>/decode/
#
# The recipe defines, before sourcing this file: its options (as egs/numbers/ST/run.sh:
# directions target_vocab_size encoder_preset xlsr_checkpoint max_update test_sets methods),
# manifests_marker and fp_manifests.

. utils/task_stages.sh

st_check_options() {
  check_int target_vocab_size
  [ -z "$max_update" ] || check_int max_update
  local d
  [ -n "${directions// /}" ] || die "--directions must name x-en and/or en-x"
  for d in $directions; do
    [[ $d == x-en || $d == en-x ]] || die "--directions: '$d' is not a direction (x-en, en-x)"
  done
  decode_opts=()
  [ -z "$methods" ] || decode_opts+=(--methods "$methods")
}

# st_direction DIR: sets the names the shared stage functions read for one direction
st_direction() {
  direction=$1
  lang_dir=data/lang_st_$direction
  exp_dir=exp/st_$direction
  decode_conf=conf/decode_st.yaml
  train_cuts=$(cuts_of train)
  dev_cuts=$(cuts_of dev)
}
cuts_of() { echo "data/manifests/st_cuts_$1_$direction.jsonl.gz"; }

fp_lang() {
  stage_fingerprint direction="$direction" target_vocab_size="$target_vocab_size" -- \
    data/manifests/numbers_cuts_{train,dev,test}.jsonl.gz
}
fp_model() {
  stage_fingerprint task=st lang_dir="$lang_dir" encoder_preset="$encoder_preset" \
    xlsr_checkpoint="$xlsr_checkpoint" -- "$train_cuts" "$dev_cuts" \
    "$lang_dir"/{target_tokenizer,tokenizer,text_norm.json} conf/train_st.yaml
}
fp_train() { fp_model; echo "option max_update=$max_update"; }
fp_decode() {  # fp_decode TEST_SET
  stage_fingerprint lang_dir="$lang_dir" opts="${decode_opts[*]-}" -- "$(cuts_of "$1")" \
    "$lang_dir"/{target_tokenizer,text_norm.json} "$decode_conf" "$exp_dir/.done" "$exp_dir"/*.pt
}

st_run_stages() {
  local d
  for d in $directions; do
    st_direction "$d"
    if run_stage 2 "translation pairs and $lang_dir ($direction)"; then
      task_lang "$(fp_lang)" $PYTHON local/prepare_st.py --manifest-dir data/manifests \
        --direction "$direction" --lang-dir "$lang_dir" --vocab-size "$target_vocab_size"
    fi
    if run_stage 3 "no graphs for st: nothing to do"; then :; fi
    if run_stage 4 "train the st model ($direction) in $exp_dir"; then
      task_train st conf/train_st.yaml
    fi
    if run_stage 5 "decode and score ($direction: $test_sets)"; then
      check_test_sets
      require_done "$exp_dir/.done" "$(fp_train)" "$exp_dir has no finished training from the current inputs: run stage 4"
      task_decode st "$decode_conf" ${decode_opts[@]+"${decode_opts[@]}"}
    fi
  done
}
