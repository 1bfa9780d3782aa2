// Builds a GPT-2 tokenizer.json with the Hugging Face library itself (BPE from
// encoder.json + vocab.bpe, ByteLevel pre-tokenizer with GPT-2's regex, <|endoftext|> as BOS), so the
// test reads a file the reference wrote.
// usage: node make_gpt2_tokenizer_json.js ENCODER_JSON VOCAB_BPE OUT_JSON
"use strict";
const { Tokenizer, BPE, byteLevelPreTokenizer, templateProcessing } = require("tokenizers");
async function main() {
  const [vocab, merges, out] = process.argv.slice(2);
  const tok = new Tokenizer(await BPE.fromFile(vocab, merges));
  tok.setPreTokenizer(byteLevelPreTokenizer(false, true));
  tok.addSpecialTokens(["<|endoftext|>"]);
  tok.setPostProcessor(templateProcessing("<|endoftext|> $A", undefined, [["<|endoftext|>", 50256]]));
  tok.save(out);
}
main().catch((e) => { console.error("make_gpt2_tokenizer_json.js: " + e.message); process.exit(1); });
