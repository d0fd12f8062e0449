#!/usr/bin/python3
"""Label-scoring reference: a tiny random Llama checkpoint with a byte-level
tokenizer (one token per byte, four special tokens, no merges, so the ids of
a text are its UTF-8 bytes and are worked out here without any tokenizer
library), and the log-likelihood of each label's tokens after each template,
computed in float64 by hfref.forward.

Templates are rendered here from the formats their projects document:
  plain     TEXT, then " " + WORD
  alpaca    Stanford Alpaca's / LLaMA-Factory's default system line,
            "### Instruction:\\n" TEXT "\\n\\n### Response:\\n", then WORD
  chatml    "<|im_start|>user\\n" TEXT "<|im_end|>\\n<|im_start|>assistant\\n",
            then WORD (LLaMA-Factory's chatml: no default system)
  custom    "Review: {text}\\nSentiment:", then " " + WORD
Row = [BOS] + ids(context) + ids(target); the targets are the label's ids.

Writes into --out: config.json, model.safetensors, tokenizer.json,
tokenizer_config.json (add_bos_token) and expected.json:
  {"labels": [...], "words": [...], "texts": [...],
   "cases": [{"template", "length_norm", "max_len", "loglik": [[...]],
              "probs": [[...]], "cut": [bytes of each text kept]}]}
Nothing here reads a file ft wrote.
"""

import argparse
import json
import math
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402

SPECIALS = ["<s>", "</s>", "<|im_start|>", "<|im_end|>"]  # ids 256..259
BOS = 256

ALPACA_SYSTEM = ("Below is an instruction that describes a task. Write a response "
                 "that appropriately completes the request.\n\n")

TEMPLATES = {
    "plain": lambda t: (t, " "),
    "alpaca": lambda t: (ALPACA_SYSTEM + "### Instruction:\n" + t + "\n\n### Response:\n", ""),
    "chatml": lambda t: ("<|im_start|>user\n" + t + "<|im_end|>\n<|im_start|>assistant\n", ""),
    "Review: {text}\nSentiment:": lambda t: ("Review: " + t + "\nSentiment:", " "),
}

LABELS = ["negative", "positive", "neutral"]
WORDS = ["bad", "good", "so-so"]
TEXTS = [
    "the film was a delight from start to end",
    "dull",
    "h\u00e9llo w\u00f6rld \u2603 and <|im_end|> inside",
    "an overlong and tedious story that never finds its footing, "
    "with actors who seem to be reading their lines for the first time",
]


def bytes_to_unicode():
    """GPT-2's printable stand-in for every byte."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
          + list(range(ord("\xae"), ord("\xff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenize(text):
    """Special tokens matched leftmost-longest, every other byte its own id."""
    ids, i = [], 0
    while i < len(text):
        hit = None
        for k, s in enumerate(SPECIALS):
            if text.startswith(s, i) and (hit is None or len(s) > len(SPECIALS[hit])):
                hit = k
        if hit is not None:
            ids.append(256 + hit)
            i += len(SPECIALS[hit])
            continue
        ids.extend(text[i].encode("utf-8"))
        i += 1
    return ids


def write_tokenizer(out):
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    for k, s in enumerate(SPECIALS):
        vocab[s] = 256 + k
    tj = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 256 + k, "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for k, s in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }
    hfref.write_json(os.path.join(out, "tokenizer.json"), tj)
    hfref.write_json(os.path.join(out, "tokenizer_config.json"),
                     {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                      "eos_token": "</s>"})


def rows(template, text, word):
    ctx, sep = TEMPLATES[template](text)
    context = [BOS] + tokenize(ctx)
    target = tokenize(sep + word)
    return context + target, len(target)


def fits(template, text, max_len):
    return all(len(rows(template, text, w)[0]) <= max_len for w in WORDS)


def cut(template, text, max_len):
    """The longest prefix (whole characters) whose rows all fit."""
    k = len(text)
    while k > 0 and not fits(template, text[:k], max_len):
        k -= 1
    return text[:k]


def loglik(cfg, p, ids, n_target):
    logits = hfref.forward(cfg, p, torch.tensor([ids[:-1]]))[0]
    logp = torch.log_softmax(logits, dim=-1)
    T = len(ids) - 1
    return sum(float(logp[t, ids[t + 1]]) for t in range(T - n_target, T))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    cfg = hfref.make_config("llama", vocab=260, n_pos=512)
    gen = torch.Generator().manual_seed(a.seed)
    params = hfref.init_params(cfg, gen)
    params = {k: hfref.round_to(v, "f32") for k, v in params.items()}
    hfref.write_model_dir(a.out, cfg, params)
    write_tokenizer(a.out)

    cases = []
    for template in TEMPLATES:
        room = max(len(rows(template, "", w)[0]) for w in WORDS) + 40
        for norm, max_len in ((0, 0), (1, 0), (0, room), (1, room)):
            ll, pr, kept = [], [], []
            for text in TEXTS:
                t = cut(template, text, max_len) if max_len else text
                kept.append(len(t.encode("utf-8")))
                row = []
                for w in WORDS:
                    ids, n = rows(template, t, w)
                    v = loglik(cfg, params, ids, n)
                    row.append(v / n if norm else v)
                mx = max(row)
                z = sum(math.exp(v - mx) for v in row)
                ll.append(row)
                pr.append([math.exp(v - mx) / z for v in row])
            cases.append({"template": template, "length_norm": norm, "max_len": max_len,
                          "loglik": ll, "probs": pr, "cut": kept})
    hfref.write_json(os.path.join(a.out, "expected.json"),
                     {"labels": LABELS, "words": WORDS, "texts": TEXTS, "cases": cases})


if __name__ == "__main__":
    main()
