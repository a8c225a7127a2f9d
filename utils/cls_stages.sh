#!/usr/bin/env bash
# The generic stages 2-5 of utterance classification recipes (task lid or sid), after the
# recipe's own data stages (0-1): `. utils/cls_stages.sh`, `cls_check_options`, then
# `cls_run_stages`.
#
#   stage 2: the label dictionary: the distinct supervision <field> values of the training
#            cuts, one a line (local/prepare_labels.py)        -> $lang_dir/labels.txt
#   stage 3: nothing (no graphs for classification; kept so that stage numbers agree
#            across tasks)
#   stage 4: python -m xlsr.bin.train --task $task --config conf/train_$task.yaml
#                                                              -> $exp_dir/
#   stage 5: python -m xlsr.bin.decode --task $task --config conf/decode_$task.yaml on
#            every --test-sets set: fairseq's report, hyps/score/confusion files
#                                                              -> $exp_dir/decode/
#
# The recipe defines, before sourcing this file: task (lid | sid), its options (as
# egs/numbers/LID/run.sh: encoder_preset xlsr_checkpoint max_update exp_dir test_sets views
# methods), train_cuts, dev_cuts, cuts_of SET, manifests_marker and fp_manifests; optionally
# decode_set_args SET (options for one test set, e.g. sid's --methods verify --trials FILE)
# and decode_set_files SET (the files those options read, for the decode fingerprint).

. utils/task_stages.sh

cls_check_options() {
  check_train_options
  check_choice task lid sid
  [ -z "$max_update" ] || check_int max_update
  [ -z "$views" ] || check_int views
  [[ $test_sets =~ ^[[:space:]]*[A-Za-z0-9_.-]+([[:space:]]+[A-Za-z0-9_.-]+)*[[:space:]]*$ ]] \
    || die "--test-sets must be names of splits separated by spaces (e.g. \"dev test\"), got '$test_sets'"
  case "$task" in
    lid) field=language ;;
    sid) field=speaker ;;
  esac
  lang_dir=data/lang_$task
  [ -n "$exp_dir" ] || exp_dir=exp/$task
  decode_conf=conf/decode_$task.yaml
  decode_opts=()  # the decoding options given on the command line (the conf has the rest)
  [ -z "$views" ] || decode_opts+=(--views "$views")
  [ -z "$methods" ] || decode_opts+=(--methods "$methods")
}

fp_lang() { stage_fingerprint field="$field" -- "$train_cuts"; }
fp_model() {
  stage_fingerprint task="$task" lang_dir="$lang_dir" encoder_preset="$encoder_preset" \
    xlsr_checkpoint="$xlsr_checkpoint" -- "$train_cuts" "$dev_cuts" "$lang_dir/labels.txt" \
    "conf/train_$task.yaml" ${train_overlay:+"$train_overlay"}
}
fp_train() { fp_model; echo "option max_update=$max_update"; }
fp_decode() {  # fp_decode TEST_SET
  local files=("$(cuts_of "$1")" "$lang_dir/labels.txt" "$decode_conf" "$exp_dir/.done")
  if declare -F decode_set_files >/dev/null; then files+=($(decode_set_files "$1")); fi
  local set_args=""
  if declare -F decode_set_args >/dev/null; then set_args=$(decode_set_args "$1"); fi
  stage_fingerprint lang_dir="$lang_dir" opts="${decode_opts[*]-}" set_args="$set_args" -- \
    "${files[@]}" "$exp_dir"/*.pt
}

cls_run_stages() {
  if run_stage 2 "the label dictionary $lang_dir/labels.txt (supervision $field)"; then
    task_lang "$(fp_lang)" $PYTHON local/prepare_labels.py --cuts "$train_cuts" --field "$field" \
      --lang-dir "$lang_dir"
  fi

  if run_stage 3 "no graphs for $task${shar:+ (--shar $shar: Shar shards of the training cuts)}"; then
    task_pack_shar
  fi

  if run_stage 4 "train the $task model in $exp_dir"; then
    task_train "$task" "conf/train_$task.yaml"
  fi

  if run_stage 5 "decode and score (${test_sets})"; then
    check_test_sets
    require_done "$exp_dir/.done" "$(fp_train)" "$exp_dir has no finished training from the current inputs: run stage 4"
    task_decode "$task" "$decode_conf" ${decode_opts[@]+"${decode_opts[@]}"}
  fi
}
