#!/usr/bin/python3
"""Independent checks of ft-augment's rewrites of space-separated, lower-case
text (the EDA data sets), with WordNet read in another way than ft reads it:
ft scans the four data files; this looks each word up in index.<pos> and
reads its synsets at their byte offsets in data.<pos>, as WordNet's own
library does.

  augment_oracle.py OP ORIG.jsonl OUT.jsonl STOPWORDS WNDIR [ALPHA]

ORIG holds the input records and OUT ft-augment's rewrites only (decoded by
mpjson.py), produced with --ops OP alone. OP is one of:
  sr  every changed word is replaced by a phrase that shares a synset with it;
      no stop word or word with a digit is replaced; a word is replaced the
      same way at every occurrence; exactly min(n, replaceable words) distinct
      words change; >= 90% of texts with a replaceable word change, and texts
      without one do not.
  ri  the original words stay in order, and exactly n phrases are inserted,
      each a synonym of a non-stop word of the text.
  rs  the multiset of words is kept.
  rd  words only disappear, never all; the overall deletion rate is within 5
      standard deviations of p = ALPHA.
with n = max(1, floor(ALPHA * words)). Prints a summary; exits 1 on failure.
"""
import json
import math
import os
import sys
from collections import Counter
from functools import lru_cache

OP, ORIG, OUT, STOP, WNDIR = sys.argv[1:6]
ALPHA = float(sys.argv[6]) if len(sys.argv) > 6 else 0.1
POS = ["noun", "verb", "adj", "adv"]

stop = {l.strip().lower() for l in open(STOP, encoding="utf-8")
        if l.strip() and not l.startswith("#")}

index = {}    # lemma -> [(pos, offset)]
for pos in POS:
    with open(os.path.join(WNDIR, "index." + pos), encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue
            fl = line.split()
            lemma, n_syn, p_cnt = fl[0], int(fl[2]), int(fl[3])
            offs = fl[6 + p_cnt:6 + p_cnt + n_syn]
            index.setdefault(lemma, []).extend((pos, int(o)) for o in offs)
data = {pos: open(os.path.join(WNDIR, "data." + pos), "rb") for pos in POS}


@lru_cache(maxsize=None)
def synset_words(pos, off):
    f = data[pos]
    f.seek(off)
    fl = f.readline().decode("latin-1").split()
    assert int(fl[0]) == off, (pos, off)
    words = []
    for i in range(int(fl[3], 16)):
        w = fl[4 + 2 * i]
        if w.endswith(")") and "(" in w:
            w = w[:w.index("(")]
        words.append(w.replace("_", " "))
    return words


@lru_cache(maxsize=None)
def synonyms(word):
    """Lower-cased phrases sharing a synset with word (not word itself)."""
    out = set()
    for pos, off in index.get(word.lower().replace(" ", "_"), []):
        out.update(w.lower() for w in synset_words(pos, off))
    out.discard(word.lower())
    return frozenset(out)


def replaceable(w):
    return (w not in stop and not any(c.isdigit() for c in w)
            and any(c.isalpha() for c in w) and bool(synonyms(w)))


def n_for(words):
    return max(1, math.floor(ALPHA * len(words)))


origs = {}
for line in open(ORIG, encoding="utf-8"):
    r = json.loads(line)
    origs[r["id"]] = r["text"]
fails = []


def fail(msg):
    if len(fails) < 20:
        print("FAIL:", msg)
    fails.append(msg)


def align_sr(a, b):
    """A mapping of positions of a to phrases of b, or None."""
    sys.setrecursionlimit(10000)

    @lru_cache(maxsize=None)
    def go(i, j):
        if i == len(a):
            return () if j == len(b) else None
        if j < len(b) and a[i] == b[j]:
            rest = go(i + 1, j + 1)
            if rest is not None:
                return ((i, None),) + rest
        for L in range(1, 9):
            ph = " ".join(b[j:j + L]).lower()
            if j + L <= len(b) and ph in synonyms(a[i]):
                rest = go(i + 1, j + L)
                if rest is not None:
                    return ((i, ph),) + rest
        return None
    return go(0, 0)


def align_ri(a, b, phrases):
    """The numbers of inserted phrases that make b from a (a phrase may match
    an original word, so there may be several); empty if none does."""
    @lru_cache(maxsize=None)
    def go(i, j):
        if j == len(b):
            return frozenset([0]) if i == len(a) else frozenset()
        out = set()
        if i < len(a) and a[i] == b[j]:
            out |= go(i + 1, j + 1)
        for L in range(1, 9):
            if j + L <= len(b) and " ".join(b[j:j + L]).lower() in phrases:
                out |= {k + 1 for k in go(i, j + L)}
        return frozenset(out)
    return go(0, 0)


n_rew = with_repl = changed = deleted = total = 0
for line in open(OUT, encoding="utf-8"):
    r = json.loads(line)
    oid = r["aug_of"]
    a, b = origs[oid].split(), r["text"].split()
    n_rew += 1
    if r["aug"] != OP:
        fail(f"{r['id']}: aug {r['aug']}")
    if OP == "sr":
        has = any(replaceable(w) for w in a)
        m = align_sr(tuple(a), tuple(b))
        if m is None:
            fail(f"{r['id']}: not a synonym replacement of {oid}: {r['text']!r}")
            continue
        repl = {}
        for i, ph in m:
            if ph is None:
                continue
            w = a[i]
            if w in stop or any(c.isdigit() for c in w):
                fail(f"{r['id']}: replaced the stop word or number {w!r}")
            if repl.setdefault(w, ph) != ph:
                fail(f"{r['id']}: {w!r} replaced two ways")
        # Occurrences left alone must be of words not replaced.
        for i, ph in m:
            if ph is None and a[i] in repl:
                fail(f"{r['id']}: {a[i]!r} replaced at one place only")
        n_distinct = len({w for w in a if replaceable(w)})
        if has and len(repl) != min(n_for(a), n_distinct):
            fail(f"{r['id']}: {len(repl)} words replaced, expected "
                 f"{min(n_for(a), n_distinct)}")
        if not has and a != b:
            fail(f"{r['id']}: changed without a replaceable word")
        with_repl += has
        changed += has and a != b
    elif OP == "ri":
        phrases = set()
        for w in a:
            if replaceable(w):
                phrases |= synonyms(w)
        if not phrases:
            if a != b:
                fail(f"{r['id']}: insertion without a source word")
            continue
        ks = align_ri(tuple(a), tuple(b), frozenset(phrases))
        if not ks:
            fail(f"{r['id']}: not an insertion of synonyms: {r['text']!r}")
        elif n_for(a) not in ks:
            fail(f"{r['id']}: {sorted(ks)} insertions, expected {n_for(a)}")
    elif OP == "rs":
        if Counter(a) != Counter(b):
            fail(f"{r['id']}: words changed by a swap")
    elif OP == "rd":
        if not b and a:
            fail(f"{r['id']}: every word deleted")
        if Counter(b) - Counter(a):
            fail(f"{r['id']}: a word appeared")
        if len(a) >= 2:
            deleted += len(a) - len(b)
            total += len(a)

if OP == "sr":
    share = changed / max(with_repl, 1)
    print(f"sr: {changed} of {with_repl} texts with a replaceable word changed "
          f"({share:.1%})")
    if share < 0.9:
        fail(f"only {share:.1%} of texts with a replaceable word changed")
if OP == "rd":
    # Texts of one word are never touched; all-deleted texts keep one word,
    # which moves the rate by far less than the bound on this data.
    rate = deleted / total
    sd = math.sqrt(ALPHA * (1 - ALPHA) / total)
    print(f"rd: {deleted} of {total} words deleted ({rate:.4f}, p {ALPHA}, sd {sd:.4f})")
    if abs(rate - ALPHA) > 5 * sd:
        fail(f"deletion rate {rate:.4f} is more than 5 sd from {ALPHA}")
print(f"{OP}: {n_rew} rewrites checked, {len(fails)} failures")
sys.exit(1 if fails else 0)
