/* ft-train: train a model on a record stream -- full fine-tuning, Freeze,
 * or pre-training from random weights -- and write it (see ft-train(1)).
 * Options go into an ft_job; lib/train does the rest. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "nn/optim.h"
#include "prog.h"
#include "train/job.h"

enum {
    OPT_INIT = FT_OPT_FIRST_PRIVATE, OPT_TOKENIZER, OPT_METHOD, OPT_LAYERS, OPT_TRAINABLE,
    OPT_EMBED, OPT_TASK, OPT_SEQ_LEN, OPT_NO_PACK, OPT_EVAL, OPT_EVAL_EVERY, OPT_PATIENCE,
    OPT_MIN_DELTA, OPT_ACCUM, OPT_EPOCHS, OPT_MAX_STEPS, OPT_NO_SHUFFLE, OPT_LR, OPT_WD,
    OPT_BETA1, OPT_BETA2, OPT_EPS, OPT_SCHEDULE, OPT_WARMUP, OPT_CLIP, OPT_SAVE_EVERY,
    OPT_KEEP, OPT_CKPT_DIR, OPT_RESUME, OPT_LOG, OPT_LOG_EVERY, OPT_DRY_RUN, OPT_LORA_R,
    OPT_LORA_ALPHA, OPT_RSLORA, OPT_LORA_DROPOUT, OPT_LORA_TARGETS, OPT_LORA_LAYERS,
    OPT_INIT_ADAPTER, OPT_PREFIX_LEN, OPT_PREFIX_PROJ, OPT_PREFIX_DROP, OPT_PREFIX_INIT,
    OPT_TEMPLATE, OPT_LABELS, OPT_VERBALIZER, OPT_MAX_LEN, OPT_NO_TRUNCATE, OPT_GROUP
};

static const struct option long_opts[] = {
    {"model", required_argument, 0, 'm'}, {"init", required_argument, 0, OPT_INIT},
    {"tokenizer", required_argument, 0, OPT_TOKENIZER},
    {"output", required_argument, 0, 'o'}, {"method", required_argument, 0, OPT_METHOD},
    {"trainable-layers", required_argument, 0, OPT_LAYERS},
    {"trainable", required_argument, 0, OPT_TRAINABLE},
    {"train-embeddings", no_argument, 0, OPT_EMBED},
    {"prefix-len", required_argument, 0, OPT_PREFIX_LEN},
    {"prefix-projection", required_argument, 0, OPT_PREFIX_PROJ},
    {"prefix-dropout", required_argument, 0, OPT_PREFIX_DROP},
    {"prefix-init", required_argument, 0, OPT_PREFIX_INIT},
    {"task", required_argument, 0, OPT_TASK}, {"seq-len", required_argument, 0, OPT_SEQ_LEN},
    {"template", required_argument, 0, OPT_TEMPLATE},
    {"labels", required_argument, 0, OPT_LABELS},
    {"verbalizer", required_argument, 0, OPT_VERBALIZER},
    {"max-len", required_argument, 0, OPT_MAX_LEN},
    {"no-truncate", no_argument, 0, OPT_NO_TRUNCATE},
    {"group-by-length", no_argument, 0, OPT_GROUP},
    {"no-pack", no_argument, 0, OPT_NO_PACK}, {"eval", required_argument, 0, OPT_EVAL},
    {"eval-every", required_argument, 0, OPT_EVAL_EVERY},
    {"patience", required_argument, 0, OPT_PATIENCE},
    {"min-delta", required_argument, 0, OPT_MIN_DELTA},
    {"batch-size", required_argument, 0, 'b'},
    {"grad-accum", required_argument, 0, OPT_ACCUM},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"max-steps", required_argument, 0, OPT_MAX_STEPS},
    {"no-shuffle", no_argument, 0, OPT_NO_SHUFFLE}, {"lr", required_argument, 0, OPT_LR},
    {"weight-decay", required_argument, 0, OPT_WD},
    {"beta1", required_argument, 0, OPT_BETA1}, {"beta2", required_argument, 0, OPT_BETA2},
    {"eps", required_argument, 0, OPT_EPS}, {"schedule", required_argument, 0, OPT_SCHEDULE},
    {"warmup", required_argument, 0, OPT_WARMUP}, {"clip", required_argument, 0, OPT_CLIP},
    {"save-every", required_argument, 0, OPT_SAVE_EVERY},
    {"keep", required_argument, 0, OPT_KEEP},
    {"checkpoint-dir", required_argument, 0, OPT_CKPT_DIR},
    {"resume", required_argument, 0, OPT_RESUME}, {"log", required_argument, 0, OPT_LOG},
    {"log-every", required_argument, 0, OPT_LOG_EVERY},
    {"dry-run", no_argument, 0, OPT_DRY_RUN},
    {"lora-r", required_argument, 0, OPT_LORA_R},
    {"lora-alpha", required_argument, 0, OPT_LORA_ALPHA},
    {"rslora", no_argument, 0, OPT_RSLORA},
    {"lora-dropout", required_argument, 0, OPT_LORA_DROPOUT},
    {"lora-targets", required_argument, 0, OPT_LORA_TARGETS},
    {"lora-layers", required_argument, 0, OPT_LORA_LAYERS},
    {"init-adapter", required_argument, 0, OPT_INIT_ADAPTER}, FT_PROG_LONG};

static void usage(int status)
{
    printf("usage: ft-train (-m MODEL | --init CONFIG) -o OUT [OPTIONS] [FILE]\n"
           "Train a model on a record stream (FILE or standard input) and write it.\n\n"
           "Model and output:\n"
           "  -m, --model MODEL        start from MODEL (directory, archive, llama2.c .bin,\n"
           "                           GGUF)\n"
           "      --init CONFIG        start from random weights of config.json CONFIG\n"
           "      --tokenizer FILE     tokenizer.json for \"text\" records\n"
           "  -o, --output OUT         model directory, or archive (.tar, .tar.zst, .zip);\n"
           "                           with lora or ptuning the adapter directory\n"
           "Method and task:\n"
           "      --method M           full (default), freeze, lora or ptuning\n"
           "      --trainable-layers L freeze: top L blocks, or a set such as 0,5-7,-1\n"
           "      --trainable REGEX    freeze: exactly the tensors whose names match\n"
           "      --train-embeddings   freeze: train the embeddings too\n"
           "      --lora-r R           lora: rank (default 8)\n"
           "      --lora-alpha A       lora: alpha, scale alpha/r (default 16)\n"
           "      --rslora             lora: scale alpha/sqrt(r)\n"
           "      --lora-dropout P     lora: dropout on the adapter input (default 0)\n"
           "      --lora-targets T     lora: module names (q_proj,v_proj), all-linear, or a\n"
           "                           regex over module paths (default: PEFT's per family)\n"
           "      --lora-layers L      lora: only these blocks, e.g. 0-3\n"
           "      --prefix-len N       ptuning: N virtual tokens per layer\n"
           "      --prefix-projection H  ptuning: through a tanh MLP of hidden size H\n"
           "      --prefix-dropout P   ptuning: dropout on the prefix (default 0)\n"
           "      --prefix-init TEXT   ptuning: start from the model's keys and values of\n"
           "                           TEXT (its tokens give N when --prefix-len is absent)\n"
           "      --init-adapter DIR   lora, ptuning: continue training a PEFT adapter\n"
           "      --task T             lm (default), sft, chat or classify\n"
           "      --seq-len N          lm: tokens per row (default 256)\n"
           "      --no-pack            lm: never pack two records into one row\n"
           "      --template T         sft, chat, classify: plain (default), alpaca, chatml,\n"
           "                           llama2, llama3, or a string with {prompt} or {text}\n"
           "      --labels L           classify: the label set a,b,... (default: the data's)\n"
           "      --verbalizer V       classify: label words, e.g. negative=bad,positive=good\n"
           "      --max-len N          sft, chat, classify: tokens per example (default 257)\n"
           "      --no-truncate        an example longer than --max-len is an error\n"
           "      --group-by-length    batch examples of like length together\n"
           "Optimisation:\n"
           "  -b, --batch-size N       rows per micro-batch (default 8)\n"
           "      --grad-accum N       micro-batches per update (default 1)\n"
           "      --epochs N           passes over the data (default 1)\n"
           "      --max-steps N        updates in all (overrides --epochs)\n"
           "      --no-shuffle         keep the stream's order\n"
           "      --lr X               peak learning rate (default 1e-4)\n"
           "      --schedule S         cosine (default), linear or constant\n"
           "      --warmup N           updates of linear warm-up from 0 (default 0)\n"
           "      --weight-decay X     AdamW decay of matrices (default 0.01)\n"
           "      --beta1 X, --beta2 X, --eps X   AdamW (0.9, 0.999, 1e-8)\n"
           "      --clip X             global gradient-norm clip, 0 off (default 1)\n"
           "Evaluation, checkpoints, logs:\n"
           "      --eval FILE          held-out records, evaluated every --eval-every\n"
           "      --eval-every K       updates between evaluations\n"
           "      --patience N         stop after N evaluations without improvement\n"
           "      --min-delta D        improvement that counts (default 0)\n"
           "      --save-every K       checkpoint every K updates\n"
           "      --keep N             keep the newest N checkpoints, 0 all (default 2)\n"
           "      --checkpoint-dir DIR where checkpoints go (default OUT.ckpt)\n"
           "      --resume DIR         continue from a checkpoint (or the newest in DIR)\n"
           "      --log FILE           one msgpack record per logged update\n"
           "      --log-every K        updates between log records (default 1)\n"
           "      --dry-run            print the plan and estimated memory, train nothing\n"
           FT_PROG_HELP);
    exit(status);
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/* The command line as a shell would read it back, for provenance. */
static char *join_args(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++)
        n += 4 * strlen(argv[i]) + 3;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < argc; i++) {
        int plain = argv[i][0] && !argv[i][strcspn(argv[i], " \t\n'\"\\$`*?[]|&;<>(){}#~")];
        if (i)
            *p++ = ' ';
        if (plain) {
            p = stpcpy(p, argv[i]);
            continue;
        }
        *p++ = '\'';
        for (const char *c = argv[i]; *c; c++)
            p = *c == '\'' ? stpcpy(p, "'\\''") : (*p = *c, p + 1);
        *p++ = '\'';
    }
    *p = '\0';
    return s;
}

static void parse(int argc, char **argv, ft_job *j)
{
    ft_train_opts *t = &j->train;
    int opt, layers_or_regex = 0, lora_opts = 0, prefix_opts = 0, task_opts = 0, max_len = 0;

    while ((opt = getopt_long(argc, argv, FT_PROG_SHORT "m:o:b:", long_opts, NULL)) != -1) {
        if (ft_prog_common(opt, optarg, usage))
            continue;
        switch (opt) {
        case 'm': j->model = optarg; break;
        case OPT_INIT: j->init_config = optarg; break;
        case OPT_TOKENIZER: j->tokenizer = optarg; break;
        case 'o': j->output = optarg; break;
        case OPT_METHOD:
            if ((j->method = ft_job_method(optarg)) < 0)
                ft_prog_usage_error("--method: unknown method '%s'", optarg);
            break;
        case OPT_LAYERS: j->freeze.layers = optarg; layers_or_regex |= 1; break;
        case OPT_TRAINABLE: j->freeze.regex = optarg; layers_or_regex |= 2; break;
        case OPT_EMBED: j->freeze.train_embeddings = 1; layers_or_regex |= 4; break;
        case OPT_PREFIX_LEN:
            j->prefix.n_virtual = (int)ft_prog_long("--prefix-len", optarg, 1, 1 << 20);
            prefix_opts = 1;
            break;
        case OPT_PREFIX_PROJ:
            j->prefix.projection = (int)ft_prog_long("--prefix-projection", optarg, 0,
                                                     1 << 20);
            prefix_opts = 1;
            break;
        case OPT_PREFIX_DROP:
            j->prefix.dropout = ft_prog_double("--prefix-dropout", optarg, 0, 0.999999);
            prefix_opts = 1;
            break;
        case OPT_PREFIX_INIT:
            j->prefix_init = optarg;
            prefix_opts = 1;
            break;
        case OPT_TASK:
            if ((j->task = ft_job_task(optarg)) < 0)
                ft_prog_usage_error("--task: unknown task '%s'", optarg);
            break;
        case OPT_TEMPLATE: j->template_spec = optarg; task_opts |= 1; break;
        case OPT_LABELS: j->labels = optarg; task_opts |= 2; break;
        case OPT_VERBALIZER: j->verbalizer = optarg; task_opts |= 2; break;
        case OPT_MAX_LEN:
            max_len = (int)ft_prog_long("--max-len", optarg, 2, 1 << 20);
            task_opts |= 1;
            break;
        case OPT_NO_TRUNCATE: j->truncate = 0; task_opts |= 1; break;
        case OPT_GROUP: t->group_by_length = 1; task_opts |= 1; break;
        case OPT_SEQ_LEN:
            t->seq_len = (int)ft_prog_long("--seq-len", optarg, 1, 1 << 20);
            break;
        case OPT_NO_PACK: j->pack = 0; break;
        case OPT_EVAL: j->eval_path = optarg; break;
        case OPT_EVAL_EVERY:
            t->eval_every = ft_prog_long("--eval-every", optarg, 1, 1L << 40);
            break;
        case OPT_PATIENCE: t->patience = (int)ft_prog_long("--patience", optarg, 0, 1 << 30); break;
        case OPT_MIN_DELTA: t->min_delta = ft_prog_double("--min-delta", optarg, 0, 1e30); break;
        case 'b': t->batch_size = (int)ft_prog_long("--batch-size", optarg, 1, 1 << 20); break;
        case OPT_ACCUM:
            t->grad_accum = (int)ft_prog_long("--grad-accum", optarg, 1, 1 << 20);
            break;
        case OPT_EPOCHS: t->epochs = ft_prog_long("--epochs", optarg, 1, 1L << 30); break;
        case OPT_MAX_STEPS: t->max_steps = ft_prog_long("--max-steps", optarg, 1, 1L << 40); break;
        case OPT_NO_SHUFFLE: t->shuffle = 0; break;
        case OPT_LR: t->lr = ft_prog_double("--lr", optarg, 0, 1e30); break;
        case OPT_WD: t->weight_decay = ft_prog_double("--weight-decay", optarg, 0, 1e6); break;
        case OPT_BETA1: t->beta1 = ft_prog_double("--beta1", optarg, 0, 0.999999999); break;
        case OPT_BETA2: t->beta2 = ft_prog_double("--beta2", optarg, 0, 0.999999999); break;
        case OPT_EPS: t->eps = ft_prog_double("--eps", optarg, 0, 1); break;
        case OPT_SCHEDULE:
            if ((t->sched = ft_sched_parse(optarg)) < 0)
                ft_prog_usage_error("--schedule: unknown schedule '%s'", optarg);
            break;
        case OPT_WARMUP: t->warmup = ft_prog_long("--warmup", optarg, 0, 1L << 40); break;
        case OPT_CLIP: t->clip = ft_prog_double("--clip", optarg, 0, 1e30); break;
        case OPT_SAVE_EVERY:
            t->save_every = ft_prog_long("--save-every", optarg, 1, 1L << 40);
            break;
        case OPT_KEEP: t->keep = (int)ft_prog_long("--keep", optarg, 0, 1 << 30); break;
        case OPT_CKPT_DIR: t->ckpt_dir = optarg; break;
        case OPT_RESUME: t->resume = optarg; break;
        case OPT_LOG: t->log_path = optarg; break;
        case OPT_LOG_EVERY:
            t->log_every = ft_prog_long("--log-every", optarg, 1, 1L << 40);
            break;
        case OPT_DRY_RUN: j->dry_run = 1; break;
        case OPT_LORA_R:
            j->lora.r = (int)ft_prog_long("--lora-r", optarg, 0, 1 << 16);
            lora_opts |= 1;
            break;
        case OPT_LORA_ALPHA:
            j->lora.alpha = ft_prog_double("--lora-alpha", optarg, 0, 1e9);
            lora_opts |= 1;
            break;
        case OPT_RSLORA: j->lora.rslora = 1; lora_opts |= 1; break;
        case OPT_LORA_DROPOUT:
            j->lora.dropout = ft_prog_double("--lora-dropout", optarg, 0, 0.999);
            lora_opts |= 1;
            break;
        case OPT_LORA_TARGETS: j->lora.targets = optarg; lora_opts |= 1; break;
        case OPT_LORA_LAYERS: j->lora.layers = optarg; lora_opts |= 1; break;
        case OPT_INIT_ADAPTER: j->init_adapter = optarg; break;
        default: usage(2);
        }
    }
    if (optind < argc - 1)
        ft_prog_usage_error("more than one input file");
    j->input = optind < argc ? argv[optind] : NULL;
    if (layers_or_regex && j->method != FT_METHOD_FREEZE)
        ft_prog_usage_error("--trainable-layers, --trainable and --train-embeddings need "
                            "--method freeze");
    if (lora_opts && j->method != FT_METHOD_LORA)
        ft_prog_usage_error("--lora-* options and --rslora need --method lora");
    if (lora_opts && j->init_adapter)
        ft_prog_usage_error("--init-adapter takes rank, alpha, dropout and targets from the "
                            "adapter: give no --lora-* option or --rslora with it");
    if (j->lora.r == 0 && j->method == FT_METHOD_LORA && !j->init_adapter)
        ft_prog_usage_error("--lora-r: the rank must be at least 1");
    if (prefix_opts && j->method != FT_METHOD_PTUNING)
        ft_prog_usage_error("--prefix-len, --prefix-projection, --prefix-dropout and "
                            "--prefix-init need --method ptuning");
    if (j->prefix_init && j->init_adapter)
        ft_prog_usage_error("--prefix-init starts a new prefix: it does not go with "
                            "--init-adapter");
    if (j->init_adapter && j->method != FT_METHOD_PTUNING && j->method != FT_METHOD_LORA)
        ft_prog_usage_error("--init-adapter needs --method lora or --method ptuning");
    if (task_opts && j->task == FT_TASK_LM)
        ft_prog_usage_error("--template, --labels, --verbalizer, --max-len, --no-truncate and "
                            "--group-by-length need --task sft, chat or classify");
    if ((task_opts & 2) && j->task != FT_TASK_CLASSIFY)
        ft_prog_usage_error("--labels and --verbalizer need --task classify");
    if (max_len)
        t->seq_len = max_len - 1; /* rows of max_len tokens: max_len - 1 inputs */
    if ((layers_or_regex & 3) == 3)
        ft_prog_usage_error("--trainable-layers and --trainable exclude each other");
    if (j->model && j->init_config)
        ft_prog_usage_error("-m and --init exclude each other");
    if (!j->model && !j->init_config)
        ft_prog_usage_error("no model: give -m MODEL or --init CONFIG");
    if (!j->output && !j->dry_run)
        ft_prog_usage_error("no output: give -o OUT");
    if ((!j->input || !strcmp(j->input, "-")) && isatty(0))
        ft_prog_usage_error("standard input is a terminal: pipe records in or give a FILE");
}

int main(int argc, char **argv)
{
    ft_job j = {0};
    ft_job_result res;
    ft_err err;
    struct sigaction sa = {0};
    struct rusage ru;

    ft_prog_init("ft-train");
    ft_train_opts_default(&j.train);
    ft_lora_opts_default(&j.lora);
    ft_prefix_opts_default(&j.prefix);
    j.pack = 1;
    j.truncate = 1;
    parse(argc, argv, &j);
    ft_prog_start();
    j.force = ft_prog.force;
    j.train.seed = ft_prog.seed;
    j.train.progress = ft_prog.progress;
    j.train.stop = &stop_signal;
    j.version = FT_VERSION;
    if (!(j.command_line = join_args(argc, argv)))
        ft_prog_fail("out of memory");

    /* SIGINT and SIGTERM ask the loop for a checkpoint and a clean stop. */
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = ft_job_run(&j, stdout, &res, &err);
    free((char *)j.command_line);
    if (rc < 0)
        ft_prog_die(&err);
    if (res.labels_note[0])
        ft_prog_info("%s", res.labels_note);
    if (res.n_truncated)
        ft_prog_info("%zu examples were cut to --max-len %d tokens", res.n_truncated,
                     j.train.seq_len + 1);
    if (!isnan(res.eval_accuracy))
        ft_prog_info("%s: accuracy %.4f, macro-F1 %.4f by label scoring", j.eval_path,
                     res.eval_accuracy, res.eval_macro_f1);
    getrusage(RUSAGE_SELF, &ru);
    ft_prog_info("%lld updates; blocks run backward: %ld; peak resident memory: %ld KiB",
                 (long long)res.steps, res.block_backward, ru.ru_maxrss);
    if (res.checkpoint)
        ft_prog_info("last checkpoint: %s", res.checkpoint);
    if (rc == FT_TRAIN_STOPPED) {
        ft_prog_warn("stopped by a signal%s%s", res.checkpoint ? "; resume with --resume " : "",
                     res.checkpoint ? res.checkpoint : "");
        return 128 + (int)stop_signal;
    }
    return 0;
}
