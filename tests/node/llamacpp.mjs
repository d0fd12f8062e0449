// llama.cpp itself (through the npm package node-llama-cpp, which ships
// llama.cpp's prebuilt CPU library) loads a GGUF file and reports what it
// made of it, for tests to compare with ft and with reference values.
//
//   node llamacpp.mjs GGUF [--texts FILE] [--special 0|1] [--greedy N]
//                          [--eval "ID ID ..."] [--top K] [--lora ADAPTER.gguf]
//                          [--nll "ID ...;ID ...;..."]
//
// FILE: one text a line, or JSON lines with a "text" field when it ends in
// .jsonl. --special 1 tokenizes as llama.cpp's llama_tokenize does with
// add_special and parse_special: special-token text becomes those tokens,
// and BOS/EOS are added as the file's add_bos_token/add_eos_token say.
//
// Lines printed:
//   vocab TYPE               llama.cpp's vocabulary type (spm, bpe, ...)
//   special bos ID eos ID nl ID add_bos 0|1 add_eos 0|1
//   tokens I ID ...          FILE's text I tokenized (by default no BOS,
//                            special text not parsed)
//   text I JSON              those ids detokenized
//   greedy ID ...            N tokens generated greedily after BOS
//   probs P ID:PROB ...      after the eval ids up to position P, the K most
//                            likely next tokens (all of them with --top 0)
//   nll S VALUE              sequence S of --nll: minus the sum of the natural
//                            log-probabilities of its ids after the first
// --lora applies a LoRA adapter GGUF (scale 1) to the context.
// The KV cache is kept in F32 (llama.cpp's default F16 rounds keys and
// values) so the probabilities are those of the model in float32.
import fs from 'node:fs';
import { getLlama } from 'node-llama-cpp';

const args = process.argv.slice(2);
const opt = { texts: null, special: 0, greedy: 0, eval: null, top: 5, lora: null, nll: null };
const file = args.shift();
while (args.length) {
    const a = args.shift();
    const v = args.shift();
    if (a === '--texts') opt.texts = v;
    else if (a === '--special') opt.special = Number(v);
    else if (a === '--greedy') opt.greedy = Number(v);
    else if (a === '--eval') opt.eval = v.trim().split(/\s+/).map(Number);
    else if (a === '--top') opt.top = Number(v);
    else if (a === '--lora') opt.lora = v;
    else if (a === '--nll') opt.nll = v.split(';').map((q) => q.trim().split(/\s+/).map(Number));
    else throw new Error(`unknown option ${a}`);
}

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const model = await llama.loadModel({ modelPath: file });
const out = [];
const id = (t) => (t == null ? -1 : t);
out.push(`vocab ${model.vocabularyType}`);
out.push(`special bos ${id(model.tokens.bos)} eos ${id(model.tokens.eos)} nl ${id(model.tokens.nl)} ` +
    `add_bos ${model.tokens.shouldPrependBosToken ? 1 : 0} ` +
    `add_eos ${model.tokens.shouldAppendEosToken ? 1 : 0}`);
if (opt.texts) {
    let lines = fs.readFileSync(opt.texts, 'utf8').split('\n').filter((l) => l.length > 0);
    if (opt.texts.endsWith('.jsonl'))
        lines = lines.map((l) => JSON.parse(l).text);
    lines.forEach((line, i) => {
        let ids = model.tokenize(line, opt.special === 1);
        if (opt.special === 1) {
            if (model.tokens.shouldPrependBosToken) ids = [model.tokens.bos, ...ids];
            if (model.tokens.shouldAppendEosToken) ids = [...ids, model.tokens.eos];
        }
        out.push(`tokens ${i} ${ids.join(' ')}`.trim());
        out.push(`text ${i} ${JSON.stringify(model.detokenize(ids, false))}`);
    });
}
if (opt.greedy > 0 || opt.eval || opt.nll) {
    const ctx = await model.createContext({ contextSize: 128, batchSize: 128, threads: 1,
        flashAttention: false, experimentalKvCacheKeyType: 'F32',
        experimentalKvCacheValueType: 'F32',
        ...(opt.lora ? { lora: { adapters: [{ filePath: opt.lora, scale: 1 }] } } : {}) });
    if (opt.greedy > 0) {
        const seq = ctx.getSequence();
        const got = [];
        for await (const t of seq.evaluate([model.tokens.bos], { temperature: 0,
            yieldEogToken: true })) {
            got.push(t);
            if (got.length >= opt.greedy) break;
        }
        out.push(`greedy ${got.join(' ')}`);
        seq.dispose();
    }
    if (opt.eval) {
        const seq = ctx.getSequence();
        const res = await seq.controlledEvaluate(opt.eval.map((t) =>
            [t, { generateNext: { probabilities: true } }]));
        res.forEach((r, p) => {
            let e = [...r.next.probabilities.entries()];
            if (opt.top > 0) e = e.slice(0, opt.top);
            out.push(`probs ${p} ${e.map(([t, q]) => `${t}:${q}`).join(' ')}`);
        });
        seq.dispose();
    }
    if (opt.nll) {
        const seq = ctx.getSequence();
        for (const [k, ids] of opt.nll.entries()) {
            await seq.clearHistory();
            const res = await seq.controlledEvaluate(ids.slice(0, -1).map((t) =>
                [t, { generateNext: { probabilities: true } }]));
            let nll = 0;
            res.forEach((r, p) => { nll -= Math.log(r.next.probabilities.get(ids[p + 1]) || 0); });
            out.push(`nll ${k} ${nll}`);
        }
        seq.dispose();
    }
    await ctx.dispose();
}
await model.dispose();
await llama.dispose();
console.log(out.join('\n'));
