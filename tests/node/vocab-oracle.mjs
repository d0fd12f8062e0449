// vocab-oracle: checks of a tokenizer.json that ft-vocab wrote, for
// tests/cli/vocab.sh.
//
//   node vocab-oracle.mjs train CORPUS.jsonl SIZE MIN_FREQ SPECIALS PATTERN NFC > want.json
//   node vocab-oracle.mjs encode TOKENIZER.json TEXTS.jsonl > ids.jsonl
//
// train: learns the vocabulary again, the plain way, and prints it as
// {"vocab": {...}, "merges": ["a b", ...]}. Words come from JavaScript's own
// regular expressions and String.normalize; every step recounts every
// adjacent pair of every word from scratch (count times the word's count)
// and merges the pair seen most often, the smallest (left id, right id) on
// a tie -- the rule of Hugging Face's BpeTrainer. Ids: the special tokens
// (SPECIALS, comma-separated), then the 256 byte characters of GPT-2 in code
// point order, then merged tokens (a spelling seen before keeps its id).
// PATTERN is gpt2, llama3 or qwen2; NFC is 0 or 1.
//
// encode: loads TOKENIZER.json in @huggingface/tokenizers and prints
// {"text", "ids"} for each {"text"} line, with the tokenizer's special
// tokens added as its post-processor says.
import fs from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

// Oniguruma's \s is Unicode White_Space; JavaScript's differs (U+FEFF,
// U+0085), so the patterns spell it out.
const WS = '\\p{White_Space}', NWS = '\\P{White_Space}';
const ci = (s) => [...s].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join('');
const contractions = ['s', 't', 're', 've', 'm', 'll', 'd'];
const patterns = {
    gpt2: `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![${NWS}])|[${WS}]+`,
    llama3: contractions.map((c) => "'" + ci(c)).join('|') +
        `|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*` +
        `|[${WS}]*[\\r\\n]+|[${WS}]+(?![${NWS}])|[${WS}]+`,
    qwen2: contractions.map((c) => "'" + ci(c)).join('|') +
        `|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*` +
        `|[${WS}]*[\\r\\n]+|[${WS}]+(?![${NWS}])|[${WS}]+`,
};

// GPT-2's byte characters: printable Latin-1 bytes stand for themselves, the
// rest for U+0100 upwards in byte order.
function byteChars() {
    const chars = [];
    let n = 0;
    for (let b = 0; b < 256; b++) {
        const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        chars.push(String.fromCodePoint(printable ? b : 256 + n++));
    }
    return chars;
}

function train(corpusPath, size, minFreq, specialList, patternName, nfc) {
    const specials = specialList ? specialList.split(',') : [];
    const re = new RegExp(patterns[patternName], 'gu');
    const chars = byteChars();
    const enc = new TextEncoder();

    // Words: text between special tokens, normalized, cut by the pattern.
    const wordCount = new Map();
    const texts = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l)
        .map((l) => JSON.parse(l).text);
    for (const text of texts) {
        let spans = [text];
        for (const sp of specials)
            spans = spans.flatMap((s) => s.split(sp));
        for (let span of spans) {
            if (nfc) span = span.normalize('NFC');
            for (const m of span.matchAll(re)) {
                const w = [...enc.encode(m[0])].map((b) => chars[b]).join('');
                wordCount.set(w, (wordCount.get(w) || 0) + 1);
            }
        }
    }

    // The vocabulary so far.
    const idOf = new Map(), str = [];
    const add = (s) => {
        if (!idOf.has(s)) {
            idOf.set(s, str.length);
            str.push(s);
        }
        return idOf.get(s);
    };
    specials.forEach(add);
    [...chars].sort((a, b) => a.codePointAt(0) - b.codePointAt(0)).forEach(add);
    const words = [...wordCount].map(([w, c]) => ({ sym: [...w].map((ch) => idOf.get(ch)), c }));
    const merges = [];

    while (str.length < size) {
        const counts = new Map();
        for (const { sym, c } of words)
            for (let i = 0; i + 1 < sym.length; i++) {
                const k = sym[i] * 16777216 + sym[i + 1];
                counts.set(k, (counts.get(k) || 0) + c);
            }
        let best = -1, bestCount = 0;
        for (const [k, c] of counts)
            if (c > bestCount || (c === bestCount && k < best)) {
                best = k;
                bestCount = c;
            }
        if (best < 0 || bestCount < minFreq) break;
        const a = Math.floor(best / 16777216), b = best % 16777216;
        const m = add(str[a] + str[b]);
        merges.push(str[a] + ' ' + str[b]);
        for (const w of words) {
            const out = [];
            for (let i = 0; i < w.sym.length;) {
                if (i + 1 < w.sym.length && w.sym[i] === a && w.sym[i + 1] === b) {
                    out.push(m);
                    i += 2;
                } else {
                    out.push(w.sym[i++]);
                }
            }
            w.sym = out;
        }
    }
    const vocab = {};
    str.forEach((s, id) => { vocab[s] = id; });
    return { vocab, merges };
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'train') {
    const [corpus, size, minFreq, specials, pattern, nfc] = args;
    process.stdout.write(JSON.stringify(train(corpus, +size, +minFreq, specials, pattern,
        nfc === '1')) + '\n');
} else if (cmd === 'encode') {
    const [tokPath, textsPath] = args;
    const tok = new Tokenizer(JSON.parse(fs.readFileSync(tokPath, 'utf8')), {});
    const lines = fs.readFileSync(textsPath, 'utf8').split('\n').filter((l) => l);
    const out = lines.map((l) => {
        const { text } = JSON.parse(l);
        return JSON.stringify({ text, ids: tok.encode(text, { add_special_tokens: true }).ids });
    });
    process.stdout.write(out.join('\n') + '\n');
} else {
    process.stderr.write('usage: vocab-oracle.mjs train|encode ...\n');
    process.exit(2);
}
