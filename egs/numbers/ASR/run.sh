#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Multilingual spoken-numbers ASR (the embedded corpus, synthesised with espeak-ng).
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs; validate_data on the cuts -> data/manifests/
#   stage 2: tokenizer, lexicon, L, n-gram LMs, G  -> data/lang_char/ (--model-type char) or
#                                                     data/lang_bpe_<vocab_size>/
#   stage 3: graphs LG.pt, HLG.pt, HLG.fst (k2)    -> the same lang dir
#   stage 4: train the model: --head ctc (k2 CTC loss) or transducer (k2 pruned RNN-T loss)
#                                                   -> exp/<head>/
#   stage 5: decode --test-sets with every method of the head, score -> exp/<head>/decode/
#   stage 6: export to ONNX (fp32 and int8), decode --test-sets with sherpa-onnx and
#            onnxruntime, score (not in the default run: --stage 6 --stop-stage 6)
#                                                   -> exp/<head>/onnx/, exp/<head>/onnx/decode/
#            CTC: sherpa-greedy, sherpa-hlg, ort-greedy, ort-hlg (without k2, no HLG.fst:
#            sherpa-greedy, ort-greedy); transducer: ort-greedy_search, ort-modified_beam_search
#
# Stage markers: each stage writes its marker last, after its work succeeded
# (data/corpus/.done, data/manifests/.done, <lang dir>/.lang.done, <lang dir>/.graphs.done,
# exp/<head>/.done, exp/<head>/decode/.done-<test set>, exp/<head>/onnx/.done,
# exp/<head>/onnx/decode/.done-<test set>). A marker holds the fingerprint of
# the stage's inputs: its options and the md5 of the files it read. A stage is skipped only
# when its marker matches the current inputs; otherwise it reruns, and a stage refuses to
# start from an earlier stage's output that has no matching marker (an interrupted stage).
# Stale exp dirs: when stage 4's inputs (lang dir, manifests, conf, training options) differ
# from those the existing exp/<head> was trained from, that exp dir is moved aside to
# exp/<head>.stale-<YYYYmmdd-HHMMSS> (logged with the reason) and training starts afresh;
# an interrupted training of the same inputs, or a larger --max-update, resumes it.
# Logs: every stage that runs logs to a new exp/log/stage<N>-<YYYYmmdd-HHMMSS>.log
# (exp/log/stage<N>.log links the newest); a skipped stage writes none.
# Bad data: stage 1 runs xlsr.bin.validate_data on the train/dev/test cuts and stops when
# a cut would be dropped (report: data/manifests/validate_data.json) unless
# --allow-bad-data true.
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number
#   --numbers-per-utt --languages --speakers-per-lang --eval-speakers-per-lang --seed
#   --num-jobs --allow-bad-data --vocab-size --model-type --per-language --lm-orders
#   --modified-ctc --head --encoder-preset --xlsr-checkpoint --max-update --exp-dir
#   --methods --test-sets
#   CTC: --ctc-loss --lm-scales --num-paths --search-beam --output-beam --max-active-states
#   transducer: --beam-size --beam --max-contexts --max-states --ngram-lm-scales --num-paths
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5             # stage 6 (ONNX) runs when asked for: --stage 6 --stop-stage 6
num_utterances=3000      # corpus size, all languages and splits
max_number=9999          # cardinals 0..max_number
numbers_per_utt=1,2      # MIN,MAX numbers spoken per utterance
languages=en,de,fr,es,it,pl,ru,nl,pt,cs
speakers_per_lang=8         # voice settings per language, of which dev and test get
eval_speakers_per_lang=1    # this many each (unseen in training)
seed=0
num_jobs=2
allow_bad_data=false     # true: go on when validate_data (stage 1) finds cuts to drop
vocab_size=500
model_type=char          # char | unigram | bpe (char learns fastest for the tiny encoder)
per_language=false       # one tokenizer per language (token table = union)
lm_orders=3,4            # first-pass G (3-gram) and the rescoring G (4-gram)
modified_ctc=false
head=ctc                 # ctc | transducer: the task asr_<head> (conf/{train,decode}_asr_<head>.yaml)
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint to fine-tune instead
max_update=""            # default: conf/train_asr_<head>.yaml (ctc 1600, transducer 3200)
exp_dir=""               # default exp/<head>
test_sets="test"         # "dev test" for both
ctc_loss=k2              # k2 | torch
# Decoding: methods and options default to conf/decode_asr_<head>.yaml (every method of the
# head); a value given here overrides the conf's.
methods=""
lm_scales=""             # CTC *-rescoring
num_paths=""             # CTC nbest*, transducer fast_beam_search_nbest_LG
search_beam=""           # CTC graph search
output_beam=""
max_active_states=""
beam_size=""             # transducer modified_beam_search
beam=""                  # transducer fast_beam_search*
max_contexts=""
max_states=""
ngram_lm_scales=""       # transducer fast_beam_search_nbest_LG: LG weights

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 6 "$@"
. utils/numbers_data.sh  # the numbers corpus stages 0-1, shared by the numbers recipes
numbers_check_options
. utils/asr_stages.sh   # the ASR stages 2-6, shared by ASR recipes
asr_check_options

# the train and validation manifests of the shared stages (utils/asr_stages.sh)
train_cuts=$(cuts_of train)
dev_cuts=$(cuts_of dev)
mkdir -p exp/log

# stages 0-1: corpus and manifests (utils/numbers_data.sh)
numbers_data_stages

# stages 2-6: language side, graphs, training, decoding and scoring, ONNX (utils/asr_stages.sh)
asr_run_stages

log "Done (stages $stage..$stop_stage)"
