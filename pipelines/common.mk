# What the pipelines share: the programs, the knobs every one takes, the
# base model's shape, and each method's options. Included by spam.mk and
# eda.mk; not a pipeline itself.

FT_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
BIN ?= $(FT_ROOT)/bin
SEED ?= 1
THREADS ?= 1
# Pre-training runs alone (everything after waits for the base), so
# BASE_THREADS=2 makes it faster; the results in results/ were made with 1.
BASE_THREADS ?= $(THREADS)
METHODS ?= full lora ptuning freeze
VOCAB ?= 4096
THRESHOLD ?= 0.9

# Every program: quiet, THREADS threads, the seed.
FT = -q -j $(THREADS) --seed $(SEED)
FT_BASE = -q -j $(BASE_THREADS) --seed $(SEED)

# The base: a small Llama (GQA, tied classifier) of 1.25 M parameters,
# the size that pre-trains in minutes on two cores.
define base_config
printf '%s\n' '{"model_type": "llama", "hidden_size": 128, "intermediate_size": 344,' \
  ' "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,' \
  ' "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "vocab_size": $(VOCAB),' \
  ' "tie_word_embeddings": true, "bos_token_id": 0, "eos_token_id": 0}'
endef

# Each method's options and peak learning rate.
lr_full := 1e-3
lr_freeze := 2e-3
lr_lora := 5e-3
lr_ptuning := 3e-2
args_full :=
args_freeze := --trainable-layers 2
args_lora := --lora-r 8 --lora-alpha 16 --lora-targets all-linear
args_ptuning := --prefix-len 16
# The file that stands for a method's output: a model or an adapter.
out_full := config.json
out_freeze := config.json
out_merged := config.json
out_lora := adapter_config.json
out_ptuning := adapter_config.json
out_round0 := adapter_config.json
# Model options of ft-eval and ft-label for a method's output in DIR:
# $(call model_of,METHOD,DIR,BASE)
model_of = $(if $(filter lora ptuning round0,$(1)),-m $(3) -a $(2),-m $(2))
