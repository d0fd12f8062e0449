/* job: one ft-train run from options to the written model -- load or
 * initialise the model, pick what trains (the method), read the stream into
 * rows (the task), train, write the output with its provenance.
 *
 * This is where methods and tasks plug in: a method decides trainable flags
 * and may add parameters and hooks to the trainer and writes its own output
 * (full and freeze: a model; LoRA, P-tuning: an adapter -- their issues); a
 * task turns records into examples (lm here; sft, chat, classify in the
 * tasks issue). Each has a case in job.c's switches.
 *
 * Not here: option parsing and exit statuses (tools/ft-train.c), the loop
 * (train.h). */
#ifndef FT_TRAIN_JOB_H
#define FT_TRAIN_JOB_H

#include <stdio.h>

#include "adapt/lora.h"
#include "adapt/prefix.h"
#include "train/freeze.h"
#include "train/tasks.h"
#include "train/train.h"

enum ft_method { FT_METHOD_FULL, FT_METHOD_FREEZE, FT_METHOD_LORA, FT_METHOD_PTUNING };

typedef struct ft_job {
    const char *model;          /* -m: a model path (directory, archive, .bin) */
    const char *init_config;    /* --init: a config.json to start from random */
    const char *tokenizer;      /* --tokenizer: a tokenizer.json (or NULL) */
    const char *output;         /* -o (NULL only with dry_run) */
    int force;
    int method;                 /* FT_METHOD_* */
    ft_freeze_spec freeze;
    ft_lora_opts lora;          /* --method lora: a new adapter */
    ft_prefix_opts prefix;      /* ptuning: length (-1: from --init-adapter), projection
                                   (-1: from the adapter, else 0 none), dropout */
    const char *init_adapter;   /* --init-adapter: a PEFT adapter directory to continue */
    const char *prefix_init;    /* ptuning: --prefix-init TEXT (NULL: random) */
    int task;                   /* FT_TASK_* */
    int pack;                   /* lm: pack records across their ends */
    const char *template_spec;  /* sft, chat, classify: --template (NULL: plain) */
    const char *labels;         /* classify: --labels "a,b" (NULL: from the data) */
    const char *verbalizer;     /* classify: --verbalizer "a=x,b=y" */
    int max_len;                /* sft, chat, classify: tokens per example (0: seq_len + 1) */
    int truncate;               /* 1: cut long examples by the task's policy */
    const char *input;          /* NULL or "-": standard input */
    const char *eval_path;      /* --eval */
    ft_train_opts train;
    int dry_run;
    const char *command_line;   /* provenance */
    const char *version;
} ft_job;

/* What a run did, for the program's messages. */
typedef struct ft_job_result {
    ft_train_plan plan;
    int64_t steps;              /* updates done */
    double eval_loss;           /* NAN: none */
    long block_backward;        /* blocks the backward pass ran in (engine counter) */
    const char *checkpoint;     /* the newest checkpoint (static until next run) */
    uint64_t stream_hash;
    size_t n_truncated;         /* examples cut to --max-len */
    char labels_note[512];      /* classify: the label set and where it came from */
    double eval_accuracy;       /* classify with --eval: accuracy and macro-F1 of */
    double eval_macro_f1;       /* label scoring after training, NAN otherwise */
} ft_job_result;

/* Names of methods and tasks; -1 when unknown. */
int ft_job_method(const char *name);
int ft_job_task(const char *name);

/* The checkpoint folder for an output path: the path without an archive
 * ending, plus ".ckpt" (malloc'd). */
char *ft_job_ckpt_dir(const char *output, ft_err *err);

/* Run the job. With dry_run the plan is printed on plan_out and nothing is
 * trained or written. Returns FT_TRAIN_DONE, FT_TRAIN_STOPPED (a stop
 * request: a checkpoint was written, no output) or -1. */
int ft_job_run(const ft_job *j, FILE *plan_out, ft_job_result *res, ft_err *err);

#endif
