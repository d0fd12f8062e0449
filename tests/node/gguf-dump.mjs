// gguf-dump: print what the independent reader @huggingface/gguf (0.4.6)
// sees in a GGUF file, one item a line, for ft's tests to compare against
// tables written from llama.cpp's conventions.
//
//   node gguf-dump.mjs FILE                 the dump below
//   node gguf-dump.mjs FILE --extract NAME  the raw bytes of tensor NAME on stdout
//   node gguf-dump.mjs FILE --extract-all DIR  every tensor's raw bytes to DIR/NAME
//
// Dump lines:
//   version N
//   kv KEY TYPE VALUE           scalars; strings JSON-quoted, floats as JS prints them
//   kv KEY array<TYPE> N JSON   arrays, in full
//   tensor NAME DTYPE D0,D1,... offset
//   data_offset N
import { gguf, GGUFValueType, GGMLQuantizationType } from "@huggingface/gguf";
import { openSync, readSync, closeSync, writeFileSync } from "node:fs";

const [file, mode, arg] = process.argv.slice(2);
if (!file) {
    console.error("usage: node gguf-dump.mjs FILE [--extract NAME]");
    process.exit(2);
}

const typeName = (t) => GGUFValueType[t].toLowerCase();
// A float32 as the shortest decimal that reads back as the same float32.
const f32 = (v) => {
    for (let p = 1; p <= 9; p++) {
        const s = String(Number(v.toPrecision(p)));
        if (Math.fround(Number(s)) === v) return s;
    }
    return String(v);
};
const show = (v, t) => {
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "string") return JSON.stringify(v);
    if (Array.isArray(v)) return "[" + v.map((x) => show(x, t)).join(",") + "]";
    if (t === GGUFValueType.FLOAT32) return f32(v);
    return String(v);
};

// Bytes per element of the unquantized types ft writes.
const elemBytes = { 0: 4, 1: 2, 30: 2 };

let r;
try {
    r = await gguf(file, { typedMetadata: true, allowLocalFile: true });
} catch (e) {
    console.error(`gguf-dump: ${file}: ${e.message}`);
    process.exit(1);
}

if (mode === "--extract") {
    const t = r.tensorInfos.find((x) => x.name === arg);
    if (!t) {
        console.error(`gguf-dump: no tensor ${arg}`);
        process.exit(1);
    }
    const n = t.shape.reduce((a, b) => a * Number(b), 1) * elemBytes[t.dtype];
    const buf = Buffer.alloc(n);
    const fd = openSync(file, "r");
    readSync(fd, buf, 0, n, Number(r.tensorDataOffset + t.offset));
    closeSync(fd);
    process.stdout.write(buf);
    process.exit(0);
}

if (mode === "--extract-all") {
    const fd = openSync(file, "r");
    for (const t of r.tensorInfos) {
        const n = t.shape.reduce((a, b) => a * Number(b), 1) * elemBytes[t.dtype];
        const buf = Buffer.alloc(n);
        readSync(fd, buf, 0, n, Number(r.tensorDataOffset + t.offset));
        writeFileSync(`${arg}/${t.name}`, buf);
    }
    closeSync(fd);
    process.exit(0);
}

const out = [];
out.push(`version ${r.metadata.version}`);
for (const [k, e] of Object.entries(r.typedMetadata)) {
    if (k === "version" || k === "tensor_count" || k === "kv_count") continue;
    if (e.type === GGUFValueType.ARRAY)
        out.push(`kv ${k} array<${typeName(e.subType)}> ${e.value.length} ` +
                 show(e.value, e.subType));
    else out.push(`kv ${k} ${typeName(e.type)} ${show(e.value, e.type)}`);
}
for (const t of r.tensorInfos)
    out.push(`tensor ${t.name} ${GGMLQuantizationType[t.dtype]} ` +
             `${t.shape.map(String).join(",")} ${t.offset}`);
out.push(`data_offset ${r.tensorDataOffset}`);
process.stdout.write(out.join("\n") + "\n");
