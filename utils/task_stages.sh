#!/usr/bin/env bash
# The training and decoding stages' work, shared by every task's stages (utils/asr_stages.sh,
# utils/cls_stages.sh): `. utils/task_stages.sh`.
#
#   task_data COMMAND...                 stage 1's work of a corpus recipe: the manifests
#                                        made by one command, skipped when $manifests_marker
#                                        records fp_manifests
#   task_lang FP COMMAND...              stage 2's work for a lang dir made by one command:
#                                        skipped when $lang_dir/.lang.done records FP
#   check_test_sets                      every --test-sets set has its manifest
#   task_train TASK CONF [ARGS...]       stage 4's work: python -m xlsr.bin.train --task TASK
#                                        (its log is stage${train_stage:-4}'s)
#   task_decode TASK CONF [ARGS...]      stage 5's work: python -m xlsr.bin.decode --task TASK
#                                        on each of $test_sets (plus the words that an optional
#                                        function `decode_set_args SET` prints: options of one set)
#
#   check_train_options                  --train-overlay names an existing file (or is
#                                        unset), --shar is true or false
#   task_pack_shar                       stage 3's work with --shar true: the training cuts
#                                        and their audio packed into lhotse Shar shards
#
# A recipe may offer the option train_overlay: a YAML file layered over the training CONF
# (xlsr.bin.train --config CONF --config OVERLAY: its keys win), e.g. the release note's 2B
# settings in utils/conf/xlsr_2b.yaml; the recipe's fp_model must name it among its files.
# And the option shar (true|false): stage 3 packs $train_cuts into Shar shards
# (python -m xlsr.bin.pack_shar, --num-jobs processes) in ${train_cuts%.jsonl.gz}_shar/,
# repacked when the manifest changes, and stage 4 trains from them: sequential reads for
# a large corpus on a shared file system (xlsr/data/shar.py).
#
# The caller runs them inside `run_stage 4` / `run_stage 5` after its own checks, and
# defines: lang_dir exp_dir train_cuts dev_cuts encoder_preset xlsr_checkpoint max_update
# test_sets manifests_marker; cuts_of SET; fp_manifests; fp_lang (the inputs of the lang
# dir: training requires $lang_dir/.lang.done to record them); fp_model (what the checkpoints in $exp_dir are of: another model
# when it changes), fp_train (fp_model and --max-update: a larger one resumes), fp_decode SET.
#
# Stale exp dirs: when fp_model differs from $exp_dir/.inputs (the inputs of the training in
# $exp_dir, written before it starts), $exp_dir is moved aside to
# $exp_dir.stale-<YYYYmmdd-HHMMSS> and training starts afresh; an interrupted training of
# the same inputs, or a larger --max-update, resumes from the newest checkpoint.

task_data() {
  local fp slog
  fp=$(fp_manifests)
  if stage_is_done "$manifests_marker" "$fp"; then
    log "$(dirname "$manifests_marker") is up to date ($manifests_marker), skipping"
    return 0
  fi
  rm -f "$manifests_marker"
  slog=$(stage_log 1)
  "$@" 2>&1 | tee -a "$slog"
  mark_done "$manifests_marker" "$fp"
}

task_lang() {
  local fp=$1 slog
  shift
  if stage_is_done "$lang_dir/.lang.done" "$fp"; then
    log "$lang_dir is up to date ($lang_dir/.lang.done), skipping"
    return 0
  fi
  require_done "$manifests_marker" "$(fp_manifests)" "the manifests are not finished ($manifests_marker): run the data stages"
  rm -f "$lang_dir/.lang.done"
  slog=$(stage_log 2)
  "$@" 2>&1 | tee -a "$slog"
  mark_done "$lang_dir/.lang.done" "$fp"
}

task_train() {
  local task=$1 conf=$2 fp model_fp why stale slog
  shift 2
  fp=$(fp_train)
  if stage_is_done "$exp_dir/.done" "$fp"; then
    log "$exp_dir is trained from these inputs ($exp_dir/.done), skipping"
    return 0
  fi
  require_done "$lang_dir/.lang.done" "$(fp_lang)" "$lang_dir is unfinished or from other inputs: run stage 2"
  model_fp="$(fp_model)"$'\n'"option shar=${shar:-false}"  # another data order: afresh
  local train_source=$train_cuts
  if [ "${shar:-false}" = true ]; then
    train_source=$(shar_dir)
    require_done "$train_source.done" "$(fp_shar)" "$train_source: the Shar shards of $train_cuts are missing or stale: run stage 3 (--shar true)"
  fi
  if [ -d "$exp_dir" ] && [ -n "$(ls -A "$exp_dir")" ] && ! stage_is_done "$exp_dir/.inputs" "$model_fp"; then
    why=$(stage_changes "$exp_dir/.inputs" "$model_fp")
    stale=$(move_aside "$exp_dir")
    log "WARNING: $exp_dir was trained from other inputs, not resuming it: moved it to $stale ($why)"
  fi
  rm -f "$exp_dir/.done"
  mark_done "$exp_dir/.inputs" "$model_fp"
  slog=$(stage_log "${train_stage:-4}")
  local extra=()
  [ -n "$xlsr_checkpoint" ] && extra+=(--xlsr-checkpoint "$xlsr_checkpoint")
  [ -n "$max_update" ] && extra+=(--max-update "$max_update")
  $PYTHON -m xlsr.bin.train --task "$task" --config "$conf" \
    ${train_overlay:+--config "$train_overlay"} --lang-dir "$lang_dir" \
    --train-cuts "$train_source" --valid-cuts "$dev_cuts" --exp-dir "$exp_dir" \
    --encoder-preset "$encoder_preset" ${extra[@]+"${extra[@]}"} "$@" 2>&1 | tee -a "$slog"
  mark_done "$exp_dir/.done" "$fp"
}

check_train_options() {
  [ -z "${train_overlay:-}" ] || [ -f "$train_overlay" ] \
    || die "--train-overlay: no file '$train_overlay' (a YAML of train/data/encoder keys over the training conf, e.g. utils/conf/xlsr_2b.yaml; relative to $(pwd))"
  [ -z "${shar:-}" ] || check_choice shar true false
}

shar_dir() { echo "${train_cuts%.jsonl.gz}_shar"; }
shar_shard_size=1000  # cuts per shard (--shard-size of xlsr.bin.pack_shar)
fp_shar() { stage_fingerprint shard_size="$shar_shard_size" -- "$train_cuts"; }
task_pack_shar() {
  [ "${shar:-false}" = true ] || return 0
  local dir fp slog
  dir=$(shar_dir)
  fp=$(fp_shar)
  if stage_is_done "$dir.done" "$fp"; then  # (a file in $dir would read as a Shar field)
    log "the Shar shards in $dir are up to date ($dir.done), skipping"
    return 0
  fi
  require_done "$manifests_marker" "$(fp_manifests)" "the manifests are not finished ($manifests_marker): run the data stages"
  rm -rf "$dir" "$dir.done"
  slog=$(stage_log 3)
  log "packing $train_cuts and its audio into Shar shards in $dir"
  $PYTHON -m xlsr.bin.pack_shar "$train_cuts" "$dir" --shard-size "$shar_shard_size" \
    --num-jobs "${num_jobs:-1}" 2>&1 | tee -a "$slog"
  mark_done "$dir.done" "$fp"
}
# check_test_sets: every --test-sets set has its manifest (call it first in stage 5).
check_test_sets() {
  local t pattern prefix suffix f made=()
  pattern=$(cuts_of '*')  # the manifests of this recipe's sets: cuts_of with a wildcard
  prefix=${pattern%%\**}
  suffix=${pattern#*\*}
  for f in "$prefix"*"$suffix"; do
    [ -f "$f" ] && { f=${f#"$prefix"}; made+=("${f%"$suffix"}"); }
  done
  for t in $test_sets; do
    [ -f "$(cuts_of "$t")" ] \
      || die "--test-sets: no manifest $(cuts_of "$t") for test set '$t' (the data stages made: ${made[*]:-none})"
  done
}

task_decode() {
  local task=$1 conf=$2 t marker fp slog="" set_args
  shift 2
  check_test_sets
  for t in $test_sets; do
    marker=$exp_dir/decode/.done-$t
    fp=$(fp_decode "$t")
    if stage_is_done "$marker" "$fp"; then
      log "$t already decoded with this model and these options ($marker), skipping"
      continue
    fi
    rm -f "$marker"
    [ -n "$slog" ] || slog=$(stage_log 5)
    set_args=()
    if declare -F decode_set_args >/dev/null; then read -r -a set_args <<<"$(decode_set_args "$t")"; fi
    $PYTHON -m xlsr.bin.decode --task "$task" --config "$conf" --exp-dir "$exp_dir" \
      --lang-dir "$lang_dir" --cuts "$(cuts_of "$t")" --test-set "$t" "$@" \
      ${set_args[@]+"${set_args[@]}"} 2>&1 | tee -a "$slog"
    log "$t: $(sed -n 3p "$exp_dir/decode/summary-$t.txt")" | tee -a "$slog"
    mark_done "$marker" "$fp"
  done
}
