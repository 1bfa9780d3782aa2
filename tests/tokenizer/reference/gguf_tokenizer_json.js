// GGUF vocab <-> Hugging Face tokenizer.json for byte-level BPE, so the
// reference (Hugging Face tokenizers) can run a GGUF vocabulary and lmc's GGUF
// loader can be fed a vocabulary the reference runs from its own file.
// usage: node gguf_tokenizer_json.js to-json VOCAB.gguf OUT.json
//          A gpt2-model GGUF as tokenizer.json: its tokens and merges as a BPE
//          model, GPT-2's ByteLevel pre-tokenizer, control tokens (type 3) as
//          special added tokens and user-defined ones (type 4) as plain ones.
//        node gguf_tokenizer_json.js to-gguf TOKENIZER.json PRE OUT.gguf
//          A vocab-only GGUF v3 as llama.cpp's converter writes one
//          (tokenizer.ggml.model "gpt2", tokenizer.ggml.pre PRE): special added
//          tokens are control tokens, others user-defined.
"use strict";
const fs = require("fs");

// ---------------------------------------------------------------- GGUF read
function readGguf(path) {
  const b = fs.readFileSync(path);
  let pos = 0;
  const u32 = () => { const v = b.readUInt32LE(pos); pos += 4; return v; };
  const u64 = () => { const v = Number(b.readBigUInt64LE(pos)); pos += 8; return v; };
  const str = () => { const n = u64(); const s = b.toString("utf8", pos, pos + n); pos += n; return s; };
  const scalar = (type) => {
    switch (type) {
      case 0: return b.readUInt8(pos++);
      case 1: return b.readInt8(pos++);
      case 2: pos += 2; return b.readUInt16LE(pos - 2);
      case 3: pos += 2; return b.readInt16LE(pos - 2);
      case 4: return u32();
      case 5: pos += 4; return b.readInt32LE(pos - 4);
      case 6: pos += 4; return b.readFloatLE(pos - 4);
      case 7: return b.readUInt8(pos++) !== 0;
      case 8: return str();
      case 10: return u64();
      case 11: pos += 8; return Number(b.readBigInt64LE(pos - 8));
      case 12: pos += 8; return b.readDoubleLE(pos - 8);
      case 9: {
        const t = u32(), n = u64(), out = new Array(n);
        for (let i = 0; i < n; ++i) out[i] = scalar(t);
        return out;
      }
      default: throw new Error(`${path}: unknown GGUF type ${type}`);
    }
  };
  if (b.toString("latin1", 0, 4) !== "GGUF") throw new Error(`${path}: not GGUF`);
  pos = 4;
  u32();  // version
  u64();  // tensors
  const n = u64(), kv = {};
  for (let i = 0; i < n; ++i) { const k = str(); kv[k] = scalar(u32()); }
  return kv;
}

function toJson(ggufPath, outPath) {
  const kv = readGguf(ggufPath);
  if (kv["tokenizer.ggml.model"] !== "gpt2") throw new Error(`${ggufPath}: not a gpt2 vocab`);
  const tokens = kv["tokenizer.ggml.tokens"], types = kv["tokenizer.ggml.token_type"] || [];
  const vocab = Object.create(null), added = [];
  tokens.forEach((t, id) => {
    if (!(t in vocab)) vocab[t] = id;
    if (types[id] === 3 || types[id] === 4) {
      const special = types[id] === 3;
      added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false,
                   normalized: !special, special });
    }
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: byteLevel, post_processor: null, decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
             end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
             vocab, merges: kv["tokenizer.ggml.merges"] },
  };
  fs.writeFileSync(outPath, JSON.stringify(json));
}

// ---------------------------------------------------------------- GGUF write
function toGguf(jsonPath, pre, outPath) {
  const j = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
  let n = 0;
  for (const id of Object.values(j.model.vocab)) n = Math.max(n, id + 1);
  for (const a of j.added_tokens) n = Math.max(n, a.id + 1);
  const tokens = new Array(n).fill(null), types = new Array(n).fill(1);
  for (const [t, id] of Object.entries(j.model.vocab)) tokens[id] = t;
  for (const a of j.added_tokens) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  tokens.forEach((t, id) => { if (t === null) { tokens[id] = `[PAD${id}]`; types[id] = 5; } });
  const merges = j.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
  const parts = [];
  const u32 = (v) => { const x = Buffer.alloc(4); x.writeUInt32LE(v); parts.push(x); };
  const u64 = (v) => { const x = Buffer.alloc(8); x.writeBigUInt64LE(BigInt(v)); parts.push(x); };
  const str = (s) => { const x = Buffer.from(s, "utf8"); u64(x.length); parts.push(x); };
  const kvs = [
    ["general.architecture", 8, "llama"],
    ["tokenizer.ggml.model", 8, "gpt2"],
    ["tokenizer.ggml.pre", 8, pre],
    ["tokenizer.ggml.tokens", [9, 8], tokens],
    ["tokenizer.ggml.token_type", [9, 5], types],
    ["tokenizer.ggml.merges", [9, 8], merges],
  ];
  const bos = j.added_tokens.find((a) => a.content === "<|begin_of_text|>");
  if (bos) kvs.push(["tokenizer.ggml.bos_token_id", 4, bos.id]);
  parts.push(Buffer.from("GGUF", "latin1"));
  u32(3);
  u64(0);
  u64(kvs.length);
  for (const [key, type, value] of kvs) {
    str(key);
    if (Array.isArray(type)) {
      u32(9);
      u32(type[1]);
      u64(value.length);
      for (const v of value) {
        if (type[1] === 8) str(v);
        else { const x = Buffer.alloc(4); x.writeInt32LE(v); parts.push(x); }
      }
    } else {
      u32(type);
      if (type === 8) str(value); else u32(value);
    }
  }
  let data = Buffer.concat(parts);
  data = Buffer.concat([data, Buffer.alloc((32 - (data.length % 32)) % 32)]);
  fs.writeFileSync(outPath, data);
}

const [mode, ...args] = process.argv.slice(2);
try {
  if (mode === "to-json") toJson(args[0], args[1]);
  else if (mode === "to-gguf") toGguf(args[0], args[1], args[2]);
  else throw new Error("usage: gguf_tokenizer_json.js (to-json GGUF OUT | to-gguf JSON PRE OUT)");
} catch (e) {
  console.error("gguf_tokenizer_json.js: " + e.message);
  process.exit(1);
}
