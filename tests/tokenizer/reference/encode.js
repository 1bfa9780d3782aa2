// The reference tokenizers: reads JSON Lines of strings on stdin, writes one
// JSON array of ids per line.
// usage: node encode.js tiktoken ENCODING (plain|special)
//        node encode.js gpt-3-encoder
//        node encode.js huggingface TOKENIZER_JSON (plain|special|bos)
//        node encode.js bytes-tiktoken ENCODING FILE   (raw bytes, lossy UTF-8, one line of ids)
// "plain": text that looks like a special token is ordinary text; "special": it
// is the special token. A Hugging Face tokenizer in plain mode is loaded without
// its special added tokens, so they cannot match; "bos" is "special" with the
// post-processor's template (addSpecialTokens).
"use strict";
const fs = require("fs");

async function main() {
  const [kind, name, mode] = process.argv.slice(2);
  if (kind === "bytes-tiktoken") {
    const { get_encoding } = require("tiktoken");
    const text = fs.readFileSync(mode).toString("utf8");  // Lossy, as Node decodes.
    process.stdout.write(Array.from(get_encoding(name).encode(text, [], [])).join(" ") + "\n");
    return;
  }
  const lines = fs.readFileSync(0, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const texts = lines.map((l) => JSON.parse(l));
  let encode;
  if (kind === "tiktoken") {
    const { get_encoding } = require("tiktoken");
    const enc = get_encoding(name);
    encode = (t) => Array.from(mode === "special" ? enc.encode(t, "all") : enc.encode(t, [], []));
  } else if (kind === "gpt-3-encoder") {
    const { encode: e } = require("gpt-3-encoder");
    encode = (t) => e(t);
  } else if (kind === "huggingface") {
    const { Tokenizer } = require("tokenizers");
    const json = JSON.parse(fs.readFileSync(name, "utf8"));
    if (mode === "plain") json.added_tokens = json.added_tokens.filter((a) => !a.special);
    const tok = Tokenizer.fromString(JSON.stringify(json));
    const out = [];
    for (const t of texts) out.push((await tok.encode(t, null, { addSpecialTokens: mode === "bos" })).getIds());
    encode = null;
    process.stdout.write(out.map((ids) => JSON.stringify(ids)).join("\n") + "\n");
  } else {
    throw new Error("unknown reference " + kind);
  }
  if (encode) {
    const out = texts.map((t) => JSON.stringify(encode(t)));
    process.stdout.write(out.join("\n") + "\n");
  }
}
main().catch((e) => { console.error("encode.js: " + e.message); process.exit(1); });
