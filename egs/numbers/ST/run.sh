#!/usr/bin/env bash
# Usage: ./run.sh [--stage N] [--stop-stage M] [options]
#
# Speech translation (ST) on the embedded numbers corpus: a multilingual X -> En model (nine
# languages into English) and an En -> X model (English into the nine, language-tagged), one
# encoder with an attention decoder and an auxiliary CTC loss on the source transcript.
#   stage 0: synthesise the corpus                 -> data/corpus/
#   stage 1: lhotse manifests, cuts, Kaldi dirs; validate_data on the cuts -> data/manifests/
#   stage 2: per direction: translation pairs, target tokenizer with language tags, source
#            characters                            -> data/lang_st_<dir>/
#   stage 2: also every language's transcripts for the pretraining -> data/lang_st_src/
#   stage 3: CTC pretraining of the shared encoder on all ten languages (the stand-in for
#            XLS-R pretraining offline)            -> exp/ctc_src/
#   stage 4: train per direction from that encoder, --train-jobs at once -> exp/st_<dir>/
#   stage 5: decode --test-sets, BLEU / chrF per language pair -> exp/st_<dir>/decode/
#
# Stage markers, logs and stale exp dirs work as in egs/numbers/ASR (see its README).
#
# Options (defaults below): --stage --stop-stage --num-utterances --max-number
#   --numbers-per-utt --languages --speakers-per-lang --eval-speakers-per-lang --seed
#   --num-jobs --allow-bad-data --directions --target-vocab-size --encoder-preset
#   --xlsr-checkpoint --pretrain --pretrain-max-update --max-update --train-jobs --test-sets
#   --methods
set -euo pipefail
cd "$(dirname "$0")"

stage=0
stop_stage=5
num_utterances=3000      # corpus size, all languages and splits
max_number=9999          # cardinals 0..max_number
numbers_per_utt=1,2      # MIN,MAX numbers spoken per utterance
languages=en,de,fr,es,it,pl,ru,nl,pt,cs
speakers_per_lang=8         # voice settings per language, of which dev and test get
eval_speakers_per_lang=1    # this many each (unseen in training)
seed=0
num_jobs=2
allow_bad_data=false     # true: go on when validate_data (stage 1) finds cuts to drop
directions="x-en en-x"   # the models to build: x-en (9 languages -> en), en-x (en -> 9)
target_vocab_size=500    # target sentencepiece pieces (a small corpus may stop short)
encoder_preset=xlsr_mini # the tiny from-scratch encoder (no pretrained weights offline)
xlsr_checkpoint=""       # fairseq/HF XLS-R checkpoint (or one of ours) to start from instead
pretrain=true            # stage 3: CTC-pretrain the encoder first (off with --xlsr-checkpoint)
pretrain_max_update=""   # default: conf/pretrain_ctc.yaml
max_update=""            # default: conf/train_st.yaml
train_jobs=2             # directions trained at once in stage 4 (each with cores / jobs threads)
test_sets="test"         # "dev test" for both
methods=""               # default: conf/decode_st.yaml

. ./path.sh
. utils/lib.sh
. utils/parse_options.sh

# ----------------------------------------------------------------- options, checked up front
check_stages 5 "$@"
. utils/numbers_data.sh  # the numbers corpus stages 0-1, shared by the numbers recipes
numbers_check_options
. utils/st_stages.sh     # the ST stages 2-5
st_check_options
mkdir -p exp/log

numbers_data_stages   # stages 0-1
st_run_stages         # stages 2-5, per direction

log "Done (stages $stage..$stop_stage)"
