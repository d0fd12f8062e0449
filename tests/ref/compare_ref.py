#!/usr/bin/python3
"""The exact value that ft-eval --compare's paired-bootstrap p-value
estimates, for tests/cli/compare.sh.

  compare_ref.py N10 N01 N11 N00

The counts describe two systems' 0/1 correctness on the same n records:
N10 records A gets right and B wrong, N01 the other way round, N11 both
right, N00 both wrong. ft-eval(1) defines the p-value as the share of
resamples (n records drawn with replacement) whose difference of accuracies
D* lies at least as far from the observed D as D lies from 0:
|D* - D| >= |D|.

A drawn record adds +1 (an N10 record), -1 (an N01 record) or 0 (a tie) to
n·D*, so the counts (K+, K-, K0) of a resample are Multinomial(n; N10/n,
N01/n, (N11+N00)/n) and the event is |(K+ - K-) - (N10 - N01)| >= |N10 - N01|
in integers. Its probability is computed twice, independently, and the two
must agree: a sum over K+ of binomial probabilities (K- given K+ is
Binomial(n - K+, N01/(n - N10))), and a brute-force sum of
scipy.stats.multinomial.pmf over every (K+, K-).

Prints JSON: n, accuracy_a, accuracy_b, difference (exactly as a float
division of integers), p (the exact probability).
Nothing here reads a file ft wrote.
"""

import json
import sys

import numpy as np
from scipy.stats import binom, multinomial


def p_binomial(n10, n01, n):
    D = n10 - n01
    if D == 0:
        return 1.0
    pp, pm = n10 / n, n01 / n
    total = 0.0
    for kp in range(n + 1):
        w = binom.pmf(kp, n, pp)
        if w == 0:
            continue
        m = n - kp
        q = pm / (1 - pp) if pp < 1 else 0.0
        # K- <= kp - D - |D|  or  K- >= kp - D + |D|: disjoint as |D| > 0
        lo = binom.cdf(kp - D - abs(D), m, q)
        hi = binom.sf(kp - D + abs(D) - 1, m, q)
        total += w * (lo + hi)
    return float(total)


def p_multinomial(n10, n01, n):
    D = n10 - n01
    probs = [n10 / n, n01 / n, 1 - n10 / n - n01 / n]
    kp, km = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = kp + km <= n
    kp, km = kp[keep], km[keep]
    x = np.stack([kp, km, n - kp - km], axis=1)
    pmf = multinomial.pmf(x, n, probs)
    event = np.abs((kp - km) - D) >= abs(D)
    return float(np.sum(pmf[event]))


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: compare_ref.py N10 N01 N11 N00")
    n10, n01, n11, n00 = (int(a) for a in sys.argv[1:])
    n = n10 + n01 + n11 + n00
    a, b = p_binomial(n10, n01, n), p_multinomial(n10, n01, n)
    if abs(a - b) > 1e-9:
        sys.exit("compare_ref.py: the two sums disagree: %r %r" % (a, b))
    print(json.dumps({"n": n, "accuracy_a": (n10 + n11) / n, "accuracy_b": (n01 + n11) / n,
                      "difference": (n10 - n01) / n, "p": a}))


if __name__ == "__main__":
    main()
