#!/usr/bin/python3
"""A plain-Python EDA (Wei & Zou 2019) for ft-augment's benchmark: the four
operations as the paper describes them (sr, ri, rs, rd; n = max(1, alpha *
words); one operation per rewrite, each used num_aug / 4 times), on
space-separated text, with WordNet read from the data files into a dict
once (load time excluded) -- the fastest a Python EDA gets; the published
code looks synonyms up through NLTK per word, which is slower still.

  eda_ref.py TSV [--num-aug 4] [--alpha 0.1] [--repeat 3] [--wordnet DIR]

Prints "sentences_per_s <x>  rewrites_per_s <y>" (best of --repeat passes,
CPU time of this process).
"""
import argparse
import os
import random
import time

ap = argparse.ArgumentParser()
ap.add_argument("tsv")
ap.add_argument("--num-aug", type=int, default=4)
ap.add_argument("--alpha", type=float, default=0.1)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--wordnet", default=os.environ.get("WNSEARCHDIR", "/usr/share/wordnet"))
ap.add_argument("--stopwords", default=os.path.join(os.path.dirname(__file__), "..",
                                                    "share", "stopwords-en.txt"))
args = ap.parse_args()

stop = {l.strip() for l in open(args.stopwords) if l.strip() and not l.startswith("#")}
syn = {}
for pos in ("noun", "verb", "adj", "adv"):
    for line in open(os.path.join(args.wordnet, "data." + pos), encoding="latin-1"):
        if line.startswith(" "):
            continue
        f = line.split()
        words = [f[4 + 2 * i].split("(")[0].replace("_", " ") for i in range(int(f[3], 16))]
        for w in words:
            s = syn.setdefault(w.lower(), [])
            s.extend(x for x in words if x.lower() != w.lower() and x not in s)
syn = {w: s for w, s in syn.items() if s}

texts = [l.split("\t", 1)[1].split() for l in open(args.tsv, encoding="utf-8")]


def sr(words, n):
    new = list(words)
    cands = list({w for w in words if w not in stop and w in syn})
    random.shuffle(cands)
    for w in cands[:n]:
        s = random.choice(syn[w])
        new = [s if x == w else x for x in new]
    return new


def ri(words, n):
    new = list(words)
    src = [w for w in words if w not in stop and w in syn]
    for _ in range(n if src else 0):
        new.insert(random.randint(0, len(new)), random.choice(syn[random.choice(src)]))
    return new


def rs(words, n):
    new = list(words)
    for _ in range(n if len(new) > 1 else 0):
        i, j = random.sample(range(len(new)), 2)
        new[i], new[j] = new[j], new[i]
    return new


def rd(words, p):
    if len(words) < 2:
        return words
    new = [w for w in words if random.random() > p]
    return new or [random.choice(words)]


ops = [sr, ri, rs, rd]
best = None
for _ in range(args.repeat):
    random.seed(1)
    t0 = time.process_time()
    out = 0
    for words in texts:
        n = max(1, int(args.alpha * len(words)))
        for k in range(args.num_aug):
            op = ops[k % 4]
            r = op(words, args.alpha if op is rd else n)
            out += len(r)
    dt = time.process_time() - t0
    best = dt if best is None or dt < best else best
print(f"sentences_per_s {len(texts) / best:.0f}  rewrites_per_s "
      f"{len(texts) * args.num_aug / best:.0f}")
