#!/usr/bin/python3
"""Pseudo-labelling reference for ft-label and ft-eval, on the tiny random
Llama and byte-level tokenizer of score_ref.py (ids of a text are its UTF-8
bytes, worked out without any tokenizer library).

  label_ref.py --model DIR --out FILE

DIR is a model written by score_ref.py. Writes FILE (JSON):
  labels, words      the label set and the word scored for each (x, y, z)
  pool               40 texts: "probs" [40][3] (plain template, sum of the
                     label tokens' float64 log-probabilities, softmax)
  dev                20 texts with a gold label; "loglik" [20][3]; "T" the
                     temperature minimising their mean NLL (SciPy's bounded
                     Brent search over [0.01, 100]); "pool_probs_T" the pool's
                     probabilities at that temperature
  gen                prompts with the greedy continuation of each (at most
                     12 new tokens, stopping at EOS ids 2 and 257; special
                     tokens left out of the text), as UTF-8 text
  lm                 texts with their summed NLL (nats) over every token but
                     BOS, by Hugging Face's strided perplexity loop (windows
                     of 17 tokens, i.e. 16 predictions, advancing by 8), the
                     number of predicted tokens and of UTF-8 bytes
Nothing here reads a file ft wrote.
"""

import argparse
import json
import math
import os
import random
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

import hfref  # noqa: E402
import score_ref  # noqa: E402

# One byte each: the random model's choice among them varies with the text.
WORDS = ["x", "y", "z"]

WORDS_POOL = ("good bad fine dull great awful film story plot actor slow fast warm cold "
              "long short bright dark fun sad").split()


def texts(n, seed):
    r = random.Random(seed)
    return [" ".join(r.choice(WORDS_POOL) for _ in range(r.randint(1, 6))) for _ in range(n)]


def scores(cfg, p, text):
    out = []
    for w in WORDS:
        ids, n = score_ref.rows("plain", text, w)
        out.append(score_ref.loglik(cfg, p, ids, n))
    return out


def softmax(row, T=1.0):
    z = [v / T for v in row]
    mx = max(z)
    e = [math.exp(v - mx) for v in z]
    s = sum(e)
    return [v / s for v in e]


def greedy(cfg, p, prompt, max_new=12):
    ids = [score_ref.BOS] + score_ref.tokenize(prompt)
    new = []
    for _ in range(max_new):
        logits = hfref.forward(cfg, p, torch.tensor([ids]))[0, -1]
        nxt = int(torch.argmax(logits))
        if nxt in (2, 257):
            break
        ids.append(nxt)
        new.append(nxt)
    return bytes(i for i in new if i < 256).decode("utf-8", errors="replace")


def strided_nll(cfg, p, ids, T, stride):
    """The loop of Hugging Face's "Perplexity of fixed-length models" guide
    with max_length = T + 1, summing instead of averaging."""
    nll, prev_end, n = 0.0, 0, len(ids)
    for begin in range(0, n, stride):
        end = min(begin + T + 1, n)
        trg = end - prev_end
        window = ids[begin:end]
        logits = hfref.forward(cfg, p, torch.tensor([window[:-1]]))[0]
        logp = torch.log_softmax(logits.double(), dim=-1)
        for j in range(len(window) - trg, len(window)):
            if j >= 1:
                nll -= float(logp[j - 1, window[j]])
        prev_end = end
        if end == n:
            break
    return nll


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg, p = hfref.load_model_dir(a.model)

    pool = texts(40, 1)
    pool_ll = [scores(cfg, p, t) for t in pool]
    dev = texts(20, 2)
    dev_ll = [scores(cfg, p, t) for t in dev]
    r = random.Random(3)
    # Gold labels: the model's own choice 60% of the time, so the scores are
    # over-confident and the fitted temperature is above 1.
    gold = [max(range(3), key=lambda c: ll[c]) if r.random() < 0.6 else r.randrange(3)
            for ll in dev_ll]
    z, y = np.array(dev_ll), np.array(gold)
    nll = lambda T: np.mean(logsumexp(z / T, axis=1) - z[np.arange(len(y)), y] / T)
    T = float(minimize_scalar(nll, bounds=(0.01, 100), method="bounded",
                              options={"xatol": 1e-10}).x)
    prompts = ["once upon a time", "the cat", "hello"]
    lm_texts = ["once upon a time there was a little cat who liked the sun",
                "a dog", "x"]
    lm = []
    for t in lm_texts:
        ids = [score_ref.BOS] + score_ref.tokenize(t)
        lm.append({"text": t, "nll": strided_nll(cfg, p, ids, 16, 8),
                   "n_predicted": len(ids) - 1, "bytes": len(t.encode("utf-8"))})
    out = {
        "labels": score_ref.LABELS, "words": WORDS,
        "pool": {"texts": pool, "probs": [softmax(r_) for r_ in pool_ll]},
        "dev": {"texts": dev, "gold": [score_ref.LABELS[g] for g in gold], "loglik": dev_ll,
                "T": T, "nll_1": float(nll(1.0)), "nll_T": float(nll(T)),
                "pool_probs_T": [softmax(r_, T) for r_ in pool_ll]},
        "gen": [{"prompt": q, "greedy": greedy(cfg, p, q)} for q in prompts],
        "lm": lm,
    }
    hfref.write_json(a.out, out)


if __name__ == "__main__":
    main()
