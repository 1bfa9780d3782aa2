// GGUF vocab <-> Hugging Face tokenizer.json for byte-level BPE, so the
// reference (Hugging Face tokenizers) can run a GGUF vocabulary and lmc's GGUF
// loader can be fed a vocabulary the reference runs from its own file.
// usage: node gguf_tokenizer_json.js to-json VOCAB.gguf OUT.json
//          A gpt2-model GGUF as tokenizer.json: its tokens and merges as a BPE
//          model, control tokens (type 3) as special added tokens and
//          user-defined ones (type 4) as plain ones. The pre-tokenizer is
//          GPT-2's ByteLevel, or for the tokenizer.ggml.pre names in SPLITS a
//          Sequence of Split (Isolated) steps running llama.cpp's regex list
//          for that name (llama-vocab.cpp), then ByteLevel without a regex.
//          A bert-model GGUF becomes a BERT (WordPiece) tokenizer.json.
//        node gguf_tokenizer_json.js to-gguf TOKENIZER.json PRE OUT.gguf
//          A vocab-only GGUF v3 as llama.cpp's converter writes one
//          (tokenizer.ggml.model "gpt2", tokenizer.ggml.pre PRE): special added
//          tokens are control tokens, others user-defined.
"use strict";
const fs = require("fs");

// llama.cpp's regex lists, as it spells them (GPT-2's without its last "|\\s+").
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
const DEEPSEEK_LETTERS =
  "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293" +
  "\u0295-\u02af\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c" +
  "\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5" +
  "\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77" +
  "\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59" +
  "\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc" +
  "\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107" +
  "\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139" +
  "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee" +
  "\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e" +
  "\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a" +
  "\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}" +
  "\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+";
const SPLITS = {
  "deepseek-llm": ["[\r\n]", DEEPSEEK_LETTERS,
                   "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+",
                   "\\s+$", CJK, "\\p{N}+"],
  "deepseek-coder": ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK, "\\p{N}"],
  "falcon": ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"],
  "starcoder": ["\\p{N}", GPT2],
  "refact": ["\\p{N}", GPT2],
};

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

// A "bert" GGUF as a BERT tokenizer.json (WordPiece, uncased when the vocab has no capitals).
function bertJson(kv) {
  // llama.cpp's phantom-space form undone: "▁word" is "word", a continuation "ing" is "##ing".
  const tokens = kv["tokenizer.ggml.tokens"].map((t) =>
    /^\[.*\]$/.test(t) ? t : t.startsWith("\u2581") ? t.slice(1) : "##" + t);
  const vocab = Object.create(null);
  tokens.forEach((t, id) => { if (!(t in vocab)) vocab[t] = id; });
  const lowercase = !tokens.some((t) => /[A-Z]/.test(t) && !/^\[.*\]$/.test(t));
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter((t) => t in vocab);
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: specials.map((t) => ({ id: vocab[t], content: t, single_word: false, lstrip: false,
                                         rstrip: false, normalized: false, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true,
                  strip_accents: null, lowercase },
    pre_tokenizer: { type: "BertPreTokenizer" }, post_processor: null,
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##",
             max_input_chars_per_word: 100, vocab },
  };
}

function toJson(ggufPath, outPath) {
  const kv = readGguf(ggufPath);
  if (kv["tokenizer.ggml.model"] === "bert") {
    fs.writeFileSync(outPath, JSON.stringify(bertJson(kv)));
    return;
  }
  if (kv["tokenizer.ggml.model"] !== "gpt2") throw new Error(`${ggufPath}: not a gpt2 or bert vocab`);
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
  const splits = SPLITS[kv["tokenizer.ggml.pre"]];
  const preTokenizer = !splits ? byteLevel : {
    type: "Sequence",
    pretokenizers: [
      ...splits.map((regex) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated",
                                  invert: false })),
      { ...byteLevel, use_regex: false },
    ],
  };
  const json = {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: preTokenizer, post_processor: null, decoder: byteLevel,
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
