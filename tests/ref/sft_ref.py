#!/usr/bin/python3
"""SFT-batch reference: the loss and every parameter's gradient of one
micro-batch of instruction records, masked and padded here, in float64.

The model and byte-level tokenizer are score_ref.py's (ids of a text are its
UTF-8 bytes; <s> 256 is BOS, </s> 257 EOS). Records are rendered with the
alpaca template as LLaMA-Factory documents it: the default system line,
"### Instruction:\\n" PROMPT "\\n\\n### Response:\\n" as context, RESPONSE
and EOS as targets. Rows are [BOS] + context + targets, right-padded to the
longest row of the batch (padding predicts nothing), and
    loss = sum_b w_b sum_{t target} CE(b, t) / sum_b w_b n_targets(b)
(DESIGN.md). Writes into --out the model files, records.jsonl (prompt,
response, weight) and expected.safetensors ("loss" [1] and "grad.NAME" for
every parameter, f64). Nothing here reads a file ft wrote.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import hfref  # noqa: E402
import score_ref  # noqa: E402

EOS = 257
RECORDS = [
    {"prompt": "Name a colour.", "response": "Blue.", "weight": 1.0},
    {"prompt": "Add 2 and 3, then explain the sum in one short sentence.",
     "response": "5: two and three make five.", "weight": 0.5},
    {"prompt": "Say hi", "response": "Hi! \u2603", "weight": 2.0},
]


def row(rec):
    ctx = (score_ref.ALPACA_SYSTEM + "### Instruction:\n" + rec["prompt"]
           + "\n\n### Response:\n")
    context = [score_ref.BOS] + score_ref.tokenize(ctx)
    target = score_ref.tokenize(rec["response"]) + [EOS]
    return context + target, [0] * len(context) + [1] * len(target)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)

    cfg = hfref.make_config("llama", vocab=260, n_pos=256)
    gen = torch.Generator().manual_seed(a.seed)
    params = hfref.init_params(cfg, gen)
    params = {k: hfref.round_to(v, "f32") for k, v in params.items()}
    hfref.write_model_dir(a.out, cfg, params)
    score_ref.write_tokenizer(a.out)
    with open(os.path.join(a.out, "records.jsonl"), "w") as f:
        for r in RECORDS:
            f.write(json.dumps(r) + "\n")

    # The batch: inputs ids[:-1], targets ids[1:] where the mask says so.
    rows = [row(r) for r in RECORDS]
    T = max(len(ids) for ids, _ in rows) - 1
    tokens = torch.zeros(len(rows), T, dtype=torch.long)
    targets = torch.full((len(rows), T), -1, dtype=torch.long)
    for b, (ids, mask) in enumerate(rows):
        n = len(ids) - 1
        tokens[b, :n] = torch.tensor(ids[:-1])
        targets[b, :n] = torch.tensor([ids[t + 1] if mask[t + 1] else -1 for t in range(n)])
    weights = torch.tensor([r["weight"] for r in RECORDS], dtype=torch.float64)

    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    num, den = hfref.loss_terms(hfref.forward(cfg, p, tokens), targets, weights)
    loss = num / den
    loss.backward()
    out = [("loss", loss.detach().reshape(1), "F64")]
    out += [("grad." + k, v.grad, "F64") for k, v in p.items()]
    hfref.st_write(os.path.join(a.out, "expected.safetensors"), out)


if __name__ == "__main__":
    main()
