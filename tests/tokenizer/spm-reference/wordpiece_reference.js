// Reference ids from Hugging Face tokenizers (Rust core, native binding):
//   node wordpiece_reference.js TOKENIZER_JSON TEXTS_JSON OUT_JSON
// TEXTS_JSON is an array of strings; OUT_JSON gets
// {"ids": [[...], ...], "decoded": ["...", ...]} (ids with the post-processor's
// [CLS]/[SEP]; decoded with special tokens skipped).
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const [tokenizerPath, textsPath, outPath] = process.argv.slice(2);
  const tok = Tokenizer.fromFile(tokenizerPath);
  const texts = JSON.parse(fs.readFileSync(textsPath, 'utf8'));
  const ids = [];
  const decoded = [];
  for (const text of texts) {
    const enc = await tok.encode(text, null, { addSpecialTokens: true });
    const row = Array.from(enc.getIds());
    ids.push(row);
    decoded.push(await tok.decode(row, true));
  }
  fs.writeFileSync(outPath, JSON.stringify({ ids, decoded }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
