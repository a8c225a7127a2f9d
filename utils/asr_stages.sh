#!/usr/bin/env bash
# The generic ASR stages 2-6, shared by every ASR recipe: `. utils/asr_stages.sh` at the end
# of a recipe's run.sh, after its own data stages (0-1). Stage 6 runs only when the recipe
# allows it (`check_stages 6`) and it is asked for (--stage 6 --stop-stage 6).
#
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/lang_char/ (--model-type char) or
#                                                     data/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: python -m xlsr.bin.train --task asr_<head> --config conf/train_asr_<head>.yaml
#                                                   -> exp/<head>/
#   stage 5: python -m xlsr.bin.decode --task asr_<head> --config conf/decode_asr_<head>.yaml
#            on every --test-sets set, scored       -> exp/<head>/decode/
#   stage 6: python -m xlsr.bin.export_onnx --int8, then python -m xlsr.bin.decode_onnx
#            --precisions fp32,int8 on every --test-sets set (sherpa-onnx and onnxruntime)
#                                                   -> exp/<head>/onnx/, exp/<head>/onnx/decode/
#            CTC: sherpa-greedy,sherpa-hlg,ort-greedy,ort-hlg (without k2 there is no
#            HLG.fst: sherpa-greedy,ort-greedy); transducer: ort-greedy_search,
#            ort-modified_beam_search. Markers exp/<head>/onnx/.done (the export) and
#            exp/<head>/onnx/decode/.done-<test set>.
#
# The recipe defines, before sourcing this file:
#   its options' defaults (as egs/numbers/ASR/run.sh: vocab_size model_type per_language
#     lm_orders modified_ctc head encoder_preset xlsr_checkpoint max_update exp_dir methods
#     test_sets ctc_loss and the decoding overrides), parsed by utils/parse_options.sh;
#   train_cuts, dev_cuts      the training and validation manifests
#   lm_text_dir               a folder of <lang>.txt external LM text ("" for none)
#   cuts_of SET               prints the manifest of a test set
#   manifests_marker, fp_manifests   the marker of its last data stage and its fingerprint
# Markers, logs and option checks work as described in the recipe's usage block.

# asr_check_options: the ASR options, checked before any stage runs (call it right after the
# recipe's own option checks); sets lang_dir, exp_dir, methods, graph_files, decode_opts,
# onnx_dir.
asr_check_options() {
  check_train_options
  check_int vocab_size
  for name in max_update num_paths max_active_states beam_size max_contexts max_states; do
    [ -z "${!name}" ] || check_int "$name"
  done
  for name in lm_scales ngram_lm_scales search_beam output_beam beam; do
    [ -z "${!name}" ] || check_numbers "$name"
  done
  check_choice model_type char unigram bpe
  check_choice per_language true false
  check_choice modified_ctc true false
  check_choice head ctc transducer
  check_choice ctc_loss k2 torch
  [[ $lm_orders =~ ^[1-9](,[1-9])?$ ]] \
    || die "--lm-orders must be comma-separated orders FIRST_PASS[,RESCORE] such as 3,4 (graphs from the first, rescoring with the second), got '$lm_orders'"
  first_pass_order=${lm_orders%%,*}  # G_<first>_gram.pt -> LG, HLG (stage 3)
  rescore_order=${lm_orders##*,}     # G_<rescore>_gram.pt -> *-rescoring (stage 5)
  [[ $test_sets =~ ^[[:space:]]*[A-Za-z0-9_.-]+([[:space:]]+[A-Za-z0-9_.-]+)*[[:space:]]*$ ]] \
    || die "--test-sets must be names of splits separated by spaces (e.g. \"dev test\"), got '$test_sets'"

  if [ "$model_type" = char ]; then lang_dir=data/lang_char; else lang_dir=data/lang_bpe_${vocab_size}; fi
  case "$head" in
    ctc) all_methods=ctc-greedy-search,ctc-decoding,1best,nbest,nbest-rescoring,whole-lattice-rescoring ;;
    transducer) all_methods=greedy_search,modified_beam_search,fast_beam_search,fast_beam_search_nbest_LG ;;
  esac
  [ -n "$exp_dir" ] || exp_dir=exp/$head
  onnx_dir=$exp_dir/onnx  # stage 6
  decode_conf=conf/decode_asr_$head.yaml
  [ -n "$methods" ] || methods=$($PYTHON -c 'import sys, yaml; print(",".join(yaml.safe_load(open(sys.argv[1]))["methods"]))' "$decode_conf")
  for m in ${methods//,/ }; do
    [[ ,$all_methods, == *,$m,* ]] || die "--methods: '$m' is not a method of --head $head (choose from $all_methods)"
  done
  # lang dir files each method reads, beyond the tokenizer (stage 3 makes the graphs)
  graph_files=()
  [[ ,$methods, =~ ,(1best|nbest|nbest-rescoring|whole-lattice-rescoring), ]] && graph_files+=(HLG.pt)
  [[ ,$methods, == *-rescoring* ]] && graph_files+=("G_${rescore_order}_gram.pt")
  [[ ,$methods, == *,fast_beam_search_nbest_LG,* ]] && graph_files+=(LG.pt)

  k2_found=""
  have_k2() {  # true when $PYTHON imports k2 (asked once)
    [ -n "$k2_found" ] || k2_found=$($PYTHON -c "import k2" 2>/dev/null && echo yes || echo no)
    [ "$k2_found" = yes ]
  }
  in_range() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
  if in_range 4 && ! have_k2; then
    [ "$head" = ctc ] || die "--head transducer needs k2 (k2's pruned RNN-T loss): use the k2 lane (.venv/)"
    [ "$ctc_loss" = torch ] || die "--ctc-loss k2 needs k2: use the k2 lane (.venv/) or --ctc-loss torch"
  fi
  if in_range 5 && [ ${#graph_files[@]} -gt 0 ] && ! have_k2; then
    die "--methods $methods: graph decoding needs k2 (use the k2 lane (.venv/), or --methods ${all_methods%%,*})"
  fi

  if [ "$head" = ctc ]; then
    decode_names=(lm_scales num_paths search_beam output_beam max_active_states)
  else
    decode_names=(beam_size beam max_contexts max_states ngram_lm_scales num_paths)
  fi
  decode_opts=()  # the decoding options given on the command line (the conf has the rest)
  for name in "${decode_names[@]}"; do
    [ -z "${!name}" ] || decode_opts+=("$name=${!name}")
  done
}

# ------------------------------------------------- the inputs of each stage (its fingerprint)
fp_lang() {
  local opts=(model_type="$model_type" per_language="$per_language" lm_orders="$lm_orders")
  [ "$model_type" = char ] || opts+=(vocab_size="$vocab_size")
  stage_fingerprint "${opts[@]}" -- "$train_cuts" ${lm_text_dir:+"$lm_text_dir"}
}
fp_graphs() {
  stage_fingerprint modified_ctc="$modified_ctc" -- \
    "$lang_dir"/{tokens.txt,words.txt,L_disambig.pt,"G_${first_pass_order}_gram.pt"}
}
fp_model() {  # what the checkpoints in $exp_dir are of: another model when it changes
  local opts=(head="$head" lang_dir="$lang_dir" encoder_preset="$encoder_preset"
              xlsr_checkpoint="$xlsr_checkpoint")
  [ "$head" = transducer ] || opts+=(ctc_loss="$ctc_loss")
  stage_fingerprint "${opts[@]}" -- "$train_cuts" "$dev_cuts" \
    "$lang_dir"/{tokens.txt,tokenizer,text_norm.json} "conf/train_asr_$head.yaml" \
    ${train_overlay:+"$train_overlay"}
}
# the training's inputs: the model's and --max-update (a larger one resumes the run)
fp_train() { fp_model; echo "option max_update=$max_update"; }
fp_decode() {  # fp_decode TEST_SET: options, test cuts, lang dir files, the trained model
  local files=("$(cuts_of "$1")" "$lang_dir"/{tokens.txt,words.txt,tokenizer,text_norm.json})
  local f
  for f in ${graph_files[@]+"${graph_files[@]}"}; do files+=("$lang_dir/$f"); done
  stage_fingerprint lang_dir="$lang_dir" methods="$methods" ${decode_opts[@]+"${decode_opts[@]}"} -- \
    "${files[@]}" "$decode_conf" "$exp_dir/.done" "$exp_dir"/*.pt
}

# stage 6: the export's inputs (the trained model, the lang dir files it copies) and, per test
# set, the decoding's (the export, the test cuts, the methods)
fp_onnx() {
  local files=("$exp_dir/.done" "$exp_dir"/*.pt "$lang_dir"/{tokens.txt,words.txt,text_norm.json})
  [ "$head" != ctc ] || ! have_k2 || files+=("$lang_dir/HLG.fst")
  stage_fingerprint head="$head" lang_dir="$lang_dir" checkpoint=last int8=true -- "${files[@]}"
}
fp_onnx_decode() {  # fp_onnx_decode TEST_SET
  stage_fingerprint methods="$onnx_methods" precisions=fp32,int8 -- \
    "$(cuts_of "$1")" "$onnx_dir/.done"
}

. utils/task_stages.sh

# asr_run_stages: stages 2-6 (each within --stage/--stop-stage).
asr_run_stages() {
  if run_stage 2 "tokenizer, lexicon, L and n-gram LMs in $lang_dir"; then
    fp=$(fp_lang)
    if stage_is_done "$lang_dir/.lang.done" "$fp"; then
      log "$lang_dir is up to date ($lang_dir/.lang.done), skipping"
    else
      require_done "$manifests_marker" "$(fp_manifests)" "the manifests are not finished ($manifests_marker): run the data stages"
      [ ! -f "$lang_dir/.lang.done" ] || log "$lang_dir: $(stage_changes "$lang_dir/.lang.done" "$fp"); rebuilding"
      rm -f "$lang_dir/.lang.done" "$lang_dir/.graphs.done"
      slog=$(stage_log 2)
      $PYTHON local/prepare_lang.py --lang-dir "$lang_dir" \
        --cuts "$train_cuts" ${lm_text_dir:+--lm-text-dir "$lm_text_dir"} \
        --model-type "$model_type" --vocab-size "$vocab_size" --per-language "$per_language" \
        2>&1 | tee -a "$slog"
      # LM text: every number of the domain spelled out, plus the training transcripts, both
      # through the lang dir's text normaliser
      $PYTHON local/prepare_lm_text.py --lang-dir "$lang_dir" \
        --cuts "$train_cuts" ${lm_text_dir:+--lm-text-dir "$lm_text_dir"} \
        --out "$lang_dir/lm_text.txt" 2>&1 | tee -a "$slog"
      $PYTHON local/train_lm.py --lang-dir "$lang_dir" --text "$lang_dir/lm_text.txt" \
        --orders "$lm_orders" 2>&1 | tee -a "$slog"
      mark_done "$lang_dir/.lang.done" "$fp"
    fi
  fi

  if run_stage 3 "graphs LG, HLG and HLG.fst in $lang_dir"; then
    if ! have_k2; then
      log "WARNING: k2 is not installed: no graphs (HLG/LG decoding needs the k2 lane, .venv/)"
    elif stage_is_done "$lang_dir/.graphs.done" "$(fp_graphs)"; then
      log "graphs in $lang_dir are up to date ($lang_dir/.graphs.done), skipping"
    else
      require_done "$lang_dir/.lang.done" "$(fp_lang)" "$lang_dir is unfinished or from other inputs: run stage 2"
      rm -f "$lang_dir/.graphs.done"
      slog=$(stage_log 3)
      extra=()
      [ "$modified_ctc" = true ] && extra+=(--modified-ctc)
      $PYTHON local/compile_graphs.py --lang-dir "$lang_dir" --lm-orders "$lm_orders" \
        "${extra[@]+"${extra[@]}"}" \
        2>&1 | tee -a "$slog"
      mark_done "$lang_dir/.graphs.done" "$(fp_graphs)"
    fi
    task_pack_shar
  fi

  if run_stage 4 "train the $head model in $exp_dir"; then
    local extra=()
    [ "$head" = ctc ] && extra+=(--ctc-loss "$ctc_loss")
    task_train "asr_$head" "conf/train_asr_$head.yaml" ${extra[@]+"${extra[@]}"}
  fi

  if run_stage 5 "decode and score ($methods)"; then
    check_test_sets
    require_done "$exp_dir/.done" "$(fp_train)" "$exp_dir has no finished training from the current inputs: run stage 4"
    if [ ${#graph_files[@]} -gt 0 ]; then
      require_done "$lang_dir/.graphs.done" "$(fp_graphs)" "the graphs in $lang_dir are unfinished or stale: run stage 3"
    fi
    local args=(--methods "$methods") kv k
    for kv in ${decode_opts[@]+"${decode_opts[@]}"}; do
      k=${kv%%=*}
      args+=("--${k//_/-}" "${kv#*=}")
    done
    task_decode "asr_$head" "$decode_conf" "${args[@]}"
  fi

  if run_stage 6 "export to ONNX ($onnx_dir), decode with sherpa-onnx and onnxruntime"; then
    asr_onnx_stage
  fi
}

# asr_onnx_stage: stage 6's work. The export (int8 beside fp32) is redone when the model or
# the lang dir files change; each test set is decoded with both precisions (results in
# $onnx_dir/decode/<method>/<precision>/, summary in $onnx_dir/decode/summary-<set>.txt).
asr_onnx_stage() {
  local fp slog="" t marker note=""
  check_test_sets
  require_done "$exp_dir/.done" "$(fp_train)" "$exp_dir has no finished training from the current inputs: run stage 4"
  if [ "$head" = transducer ]; then
    onnx_methods=ort-greedy_search,ort-modified_beam_search
  elif have_k2; then
    require_done "$lang_dir/.graphs.done" "$(fp_graphs)" "the graphs in $lang_dir (HLG.fst) are unfinished or stale: run stage 3"
    onnx_methods=sherpa-greedy,sherpa-hlg,ort-greedy,ort-hlg
  else
    onnx_methods=sherpa-greedy,ort-greedy
    note="k2 is not installed: no HLG.fst (stage 3), so greedy decoding only ($onnx_methods)"
  fi
  fp=$(fp_onnx)
  if stage_is_done "$onnx_dir/.done" "$fp"; then
    log "$onnx_dir is exported from this model ($onnx_dir/.done), skipping the export"
  else
    [ ! -f "$onnx_dir/.done" ] || log "$onnx_dir: $(stage_changes "$onnx_dir/.done" "$fp"); exporting again"
    rm -rf "$onnx_dir"  # stage 6's own output: an interrupted or stale export and its results
    slog=$(stage_log 6)
    $PYTHON -m xlsr.bin.export_onnx --model "$exp_dir" --out "$onnx_dir" --lang-dir "$lang_dir" \
      --int8 2>&1 | tee -a "$slog"
    mark_done "$onnx_dir/.done" "$fp"
  fi
  for t in $test_sets; do
    marker=$onnx_dir/decode/.done-$t
    fp=$(fp_onnx_decode "$t")
    if stage_is_done "$marker" "$fp"; then
      log "$t already decoded with this export and these methods ($marker), skipping"
      continue
    fi
    rm -f "$marker"
    [ -n "$slog" ] || slog=$(stage_log 6)
    [ -z "$note" ] || log "$note" | tee -a "$slog"
    $PYTHON -m xlsr.bin.decode_onnx --model "$onnx_dir" --cuts "$(cuts_of "$t")" --test-set "$t" \
      --methods "$onnx_methods" --precisions fp32,int8 --num-threads 1 2>&1 | tee -a "$slog"
    log "$t: $(sed -n 3p "$onnx_dir/decode/summary-$t.txt")" | tee -a "$slog"
    mark_done "$marker" "$fp"
  done
}
