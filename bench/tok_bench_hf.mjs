// tok_bench_hf: the reference side of bench/run-tokenize.sh.
//
//   node tok_bench_hf.mjs prepare GPT2_DIR OUT.json TEXTS.jsonl... -- OUT.bin...
//   node tok_bench_hf.mjs run TOKENIZER.json TEXTS.bin PASSES
//
// prepare: GPT-2's tokenizer.json from encoder.json + vocab.bpe (what
// Hugging Face's files for gpt2 hold), and each JSON-lines file's "text"
// values as a texts file for tok_bench.c (4-byte little-endian length,
// UTF-8 bytes, back to back).
// run: @huggingface/tokenizers encodes every text, without special tokens,
// PASSES times in one process; prints lines in tok_bench.c's format
// (hf first|warm TEXTS TOKENS CPU-SECONDS WALL-SECONDS HASH) with the same
// 32-bit FNV-1a hash of the ids, computed outside the timed passes.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

// The oracles live in tests/node/node_modules (NODE_DIR, else the current
// directory), not beside this file.
const require = createRequire(path.join(process.env.NODE_DIR || process.cwd(), 'package.json'));
const { Tokenizer } = require('@huggingface/tokenizers');

const [cmd, ...args] = process.argv.slice(2);

if (cmd === 'prepare') {
    const [gpt2Dir, outJson, ...rest] = args;
    const cut = rest.indexOf('--');
    const inputs = rest.slice(0, cut), outputs = rest.slice(cut + 1);
    const encoder = JSON.parse(fs.readFileSync(path.join(gpt2Dir, 'encoder.json'), 'utf8'));
    const merges = fs.readFileSync(path.join(gpt2Dir, 'vocab.bpe'), 'utf8').split('\n').slice(1)
        .filter((l) => l.length > 0);
    fs.writeFileSync(outJson, JSON.stringify({
        version: '1.0', truncation: null, padding: null,
        added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false,
            rstrip: false, normalized: true, special: true }],
        normalizer: null,
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true,
            use_regex: true },
        post_processor: null,
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true,
            use_regex: true },
        model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
            end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: encoder,
            merges },
    }));
    inputs.forEach((file, i) => {
        const parts = [];
        for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
            if (!line) continue;
            const bytes = Buffer.from(JSON.parse(line).text, 'utf8');
            const len = Buffer.alloc(4);
            len.writeUInt32LE(bytes.length);
            parts.push(len, bytes);
        }
        fs.writeFileSync(outputs[i], Buffer.concat(parts));
    });
} else if (cmd === 'run') {
    const [tokPath, textsPath, passesArg] = args;
    const passes = +passesArg || 5;
    const tok = new Tokenizer(JSON.parse(fs.readFileSync(tokPath, 'utf8')), {});
    const buf = fs.readFileSync(textsPath);
    const texts = [];
    for (let off = 0; off + 4 <= buf.length;) {
        const len = buf.readUInt32LE(off);
        texts.push(buf.toString('utf8', off + 4, off + 4 + len));
        off += 4 + len;
    }
    let first = null, best = null, kept = null;
    for (let p = 0; p < passes; p++) {
        const out = p === 0 ? [] : null;
        let tokens = 0;
        const c0 = process.cpuUsage(), w0 = process.hrtime.bigint();
        for (const t of texts) {
            const ids = tok.encode(t, { add_special_tokens: false }).ids;
            tokens += ids.length;
            if (out) out.push(ids);
        }
        const c = process.cpuUsage(c0), wall = Number(process.hrtime.bigint() - w0) / 1e9;
        const cpu = (c.user + c.system) / 1e6;
        if (p === 0) {
            first = { tokens, cpu, wall };
            kept = out;
        } else if (!best || cpu < best.cpu) {
            best = { tokens, cpu, wall };
        }
    }
    let h = 2166136261;
    for (const ids of kept)
        for (const id of ids)
            h = Math.imul((h ^ id) >>> 0, 16777619) >>> 0;
    const hash = h.toString(16).padStart(8, '0');
    const line = (kind, r) => `hf\t${kind}\t${texts.length}\t${r.tokens}\t${r.cpu.toFixed(4)}\t` +
        `${r.wall.toFixed(4)}\t${hash}\n`;
    process.stdout.write(line('first', first));
    if (best) process.stdout.write(line('warm', best));
} else {
    process.stderr.write('usage: tok_bench_hf.mjs prepare|run ...\n');
    process.exit(2);
}
