# The four EDA sentence-classification sets (sst2, subj, trec, cr), 500
# gold examples each: every method, with and without augmentation, with and
# without self-training, evaluated on each set's test file. Writes
# results/eda.md beside the published references.
#
#   make -f pipelines/eda.mk -j2              the whole grid (see COMPUTE)
#   make -f pipelines/eda.mk -j2 SETS=sst2 METHODS=lora
#
# One base is pre-trained on the unlabelled text of all four sets (train
# minus gold), with every sentence that also occurs in some test file taken
# out first; how many is reported. Every output is a file, so a stopped run
# resumes where it stopped and make re-runs only what changed.
#
# Knobs: DATA (the eda folder, default ../shared/data/eda), OUT (default
# results/eda), SETS, METHODS, SEED, THREADS, GOLD (500), BUDGET
# (pre-training updates of 8 x CTX tokens, default 6000), STEPS (updates of
# each fine-tuning run, default 600), CTX (tokens per example, default 64),
# THRESHOLD (pseudo-label confidence, default 0.9), VOCAB (4096).
#
# COMPUTE: 4 sets x 4 methods x 2 x 2 = 64 fine-tuning runs of STEPS
# updates, 64 evaluations, 4 pool labellings and one pre-training run.
# Measured here at the defaults (results/eda.md): pre-training 5 minutes on
# one thread, the 64 runs 10.3 minutes of training on one thread each; the
# whole grid took 11 minutes with make -j2 on 2 cores.

include $(dir $(lastword $(MAKEFILE_LIST)))common.mk

DATA ?= $(FT_ROOT)/../shared/data/eda
OUT ?= results/eda
SETS ?= sst2 subj trec cr
GOLD ?= 500
BUDGET ?= 6000
STEPS ?= 600
CTX ?= 64
W := $(OUT)

labels_sst2 := negative,positive
labels_subj := objective,subjective
labels_trec := description,entity,abbreviation,human,location,number
labels_cr := negative,positive
# ft-import's --label-map: index order, as the data README lists them.
map_sst2 := 0=negative,1=positive
map_subj := 0=objective,1=subjective
map_trec := 0=description,1=entity,2=abbreviation,3=human,4=location,5=number
map_cr := 0=negative,1=positive

VARIANTS := $(foreach m,$(METHODS),$(m)-noaug-nost $(m)-aug-nost $(m)-noaug-st $(m)-aug-st)

# The report is made in the work folder and copied to $(OUT).md: the copy is
# a published file, not a target, so a clone that carries it still runs.
all: $(W)/report.md
.PHONY: all
.DELETE_ON_ERROR:
.SECONDARY:
.SECONDEXPANSION:

$(W)/.dir:
	mkdir -p $(W) && touch $@

# --- Data per set -----------------------------------------------------------------

# Imported from inside DATA, so the ids are sst2/train.tsv:N wherever the
# data lies: the gold sample (ft-split hashes the ids) is the same in any
# clone.
$(W)/%/train.mp: $(DATA)/%/train.tsv | $(W)/.dir
	mkdir -p $(W)/$*
	cd $(DATA) && $(BIN)/ft-import $(FT) -f --format tsv --label-map $(map_$*) \
	  -o $(abspath $@) $*/train.tsv

$(W)/%/test.mp: $(DATA)/%/test.tsv | $(W)/.dir
	mkdir -p $(W)/$*
	cd $(DATA) && $(BIN)/ft-import $(FT) -f --format tsv --label-map $(map_$*) \
	  -o $(abspath $@) $*/test.tsv

# GOLD seeded examples; the rest of train is the unlabelled pool.
$(W)/%/gold.mp $(W)/%/pool.mp: $(W)/%/train.mp
	$(BIN)/ft-split $(FT) -f --sample $(GOLD) --rest $(W)/$*/pool.mp -o $(W)/$*/gold.mp $<

$(W)/%/gold-aug.mp: $(W)/%/gold.mp
	$(BIN)/ft-augment $(FT) -f --num-aug 4 -o $@ $<

# --- One base for the four sets --------------------------------------------------

# Every test sentence of every set, one a line; pool sentences equal to one
# are left out of pre-training.
$(W)/test-sentences.txt: $(foreach s,$(SETS),$(W)/$(s)/test.mp)
	for f in $^; do $(BIN)/ft-export --format text $$f; done | sort -u >$@

$(W)/pretrain.mp $(W)/overlap.txt &: $(foreach s,$(SETS),$(W)/$(s)/pool.mp) \
    $(W)/test-sentences.txt
	for f in $(foreach s,$(SETS),$(W)/$(s)/pool.mp); do $(BIN)/ft-export --format text $$f; \
	  done >$(W)/pool-sentences.txt
	grep -cxFf $(W)/test-sentences.txt $(W)/pool-sentences.txt >$(W)/overlap.txt || true
	grep -vxFf $(W)/test-sentences.txt $(W)/pool-sentences.txt | \
	  $(BIN)/ft-import $(FT) -f --format text -o $(W)/pretrain.mp
	rm -f $(W)/pool-sentences.txt

$(W)/tokenizer.json: $(W)/pretrain.mp
	$(BIN)/ft-vocab $(FT) -f --size $(VOCAB) -o $@ $<

$(W)/config.json: | $(W)/.dir
	$(base_config) >$@

$(W)/base/config.json: $(W)/pretrain.mp $(W)/tokenizer.json $(W)/config.json
	$(BIN)/ft-train $(FT_BASE) -f --init $(W)/config.json --tokenizer $(W)/tokenizer.json \
	  --seq-len $(CTX) -b 8 --max-steps $(BUDGET) --lr 2e-3 --warmup 50 \
	  --log $(W)/base.log -o $(W)/base $<

# --- Self-training: LoRA on gold labels the pool, the confident are kept -------------

train = $(BIN)/ft-train $(FT) -f -m $(W)/base --task classify --labels $(labels_$(1)) \
  --max-len $(CTX) -b 8 --max-steps $(STEPS) --warmup 10

$(W)/%/round0/adapter_config.json: $(W)/%/gold.mp $(W)/base/config.json
	$(call train,$*) --method lora $(args_lora) --lr $(lr_lora) -o $(W)/$*/round0 $<

$(W)/%/pseudo.mp: $(W)/%/pool.mp $(W)/%/round0/adapter_config.json
	$(BIN)/ft-label $(FT) -f -m $(W)/base -a $(W)/$*/round0 --relabel \
	  --threshold $(THRESHOLD) --max-len $(CTX) -o $@ $<

# --- The grid: METHOD-{aug,noaug}-{st,nost} per set -------------------------------

$(W)/%/noaug-nost.mp: $(W)/%/gold.mp
	cat $^ >$@
$(W)/%/aug-nost.mp: $(W)/%/gold-aug.mp
	cat $^ >$@
$(W)/%/noaug-st.mp: $(W)/%/gold.mp $(W)/%/pseudo.mp
	cat $^ >$@
$(W)/%/aug-st.mp: $(W)/%/gold-aug.mp $(W)/%/pseudo.mp
	cat $^ >$@

# $(call cell,SET,METHOD,AUG-ST)
define cell
$(W)/$(1)/$(2)-$(3)/$(out_$(2)): $(W)/$(1)/$(3).mp $(W)/base/config.json
	$$(call train,$(1)) --method $(2) $(args_$(2)) --lr $(lr_$(2)) \
	  --log $(W)/$(1)/$(2)-$(3).log -o $(W)/$(1)/$(2)-$(3) $(W)/$(1)/$(3).mp

$(W)/$(1)/eval-$(2)-$(3).json: $(W)/$(1)/$(2)-$(3)/$(out_$(2)) $(W)/$(1)/test.mp
	$(BIN)/ft-eval $(FT) -f $(call model_of,$(2),$(W)/$(1)/$(2)-$(3),$(W)/base) \
	  --max-len $(CTX) $(W)/$(1)/test.mp >$$@
endef
$(foreach s,$(SETS),$(foreach m,$(METHODS),$(foreach v,noaug-nost aug-nost noaug-st aug-st,\
  $(eval $(call cell,$(s),$(m),$(v))))))

EVALS := $(foreach s,$(SETS),$(foreach v,$(VARIANTS),$(W)/$(s)/eval-$(v).json))

$(W)/report.md: $(EVALS) $(W)/overlap.txt $(foreach s,$(SETS),$(W)/$(s)/pseudo.mp)
	sh $(FT_ROOT)/pipelines/eda-report.sh $(W) "$(SETS)" "$(METHODS)" \
	  "GOLD=$(GOLD) BUDGET=$(BUDGET) STEPS=$(STEPS) CTX=$(CTX) SEED=$(SEED) THRESHOLD=$(THRESHOLD)" >$@.tmp
	mv $@.tmp $@
	cp $@ $(OUT).md
	cat $@
