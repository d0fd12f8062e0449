#!/usr/bin/env python3
"""spm512: write a 512-token SentencePiece-style tokenizer.json (Llama 2's
layout: <unk>, <s>, </s>, the 256 byte-fallback tokens <0x00>..<0xFF>, then
single characters and BPE merges learnt from a fixed paragraph) to stdout.

stories260K (../shared/data/llama2c) has 512 rows but its own tokenizer is
not available; this one gives the model a vocabulary of the same size, so a
GGUF made from it carries a real SentencePiece tokenizer that llama.cpp
loads. Deterministic: the most frequent pair first, ties by the pair's text.
"""
import json
import sys
from collections import Counter
text = ("Once upon a time, there was a little girl named Lily. She loved to play "
        "outside in the sun with her dog. One day, she saw a big red ball in the park. "
        "She wanted to play with it, but it was too high. Her mom said, \"Be careful!\" "
        "Tom and Sue went to the store to buy some milk and bread. They were very happy. "
        "The sun was shining and the birds were singing in the trees. A small cat "
        "jumped over the fence and ran away. Ben found a shiny key under his bed; "
        "he opened the old box and smiled. Everyone laughed together at the end of "
        "the day, and then they went home to sleep.")
words = [("\u2581" + w) for w in text.split(" ")]
chars = sorted(set("".join(words)))
vocab = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + chars
seqs = [list(w) for w in words]
merges = []
while len(vocab) < 512:
    pairs = Counter()
    for s in seqs:
        for a, b in zip(s, s[1:]):
            pairs[(a, b)] += 1
    if not pairs:
        break
    (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
    merges.append(a + " " + b)
    vocab.append(a + b)
    for s in seqs:
        i = 0
        while i + 1 < len(s):
            if s[i] == a and s[i + 1] == b:
                s[i:i + 2] = [a + b]
            i += 1
special = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True} for i, t in enumerate(vocab[:3])]
tok = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": special,
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
              "continuing_subword_prefix": None, "end_of_word_suffix": None,
              "fuse_unk": True, "byte_fallback": True,
              "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges},
}
json.dump(tok, sys.stdout, ensure_ascii=False)
