// llama.cpp's logits for every position of a token list (scripts/kquant_vs_llamacpp.sh):
// node-llama-cpp's controlledEvaluate with generateNext.logits on every token. Writes raw
// little-endian f32 [positions, vocab] and prints the two sizes as JSON.
// usage: node logits.mjs MODEL.gguf THREADS TOKEN,TOKEN,... OUT.f32
import {getLlama} from "node-llama-cpp";
import fs from "node:fs";
const [modelPath, threads, tokenList, out] = process.argv.slice(2);
const tokens = tokenList.split(",").map(Number);
const llama = await getLlama({gpu: false, build: "never", maxThreads: +threads, logLevel: "warn"});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const context = await model.createContext({contextSize: tokens.length + 8, batchSize: 512,
  threads: +threads, flashAttention: false});
const sequence = context.getSequence();
const res = await sequence.controlledEvaluate(tokens.map(t => [t, {generateNext: {logits: true}}]));
let n = null;
const rows = [];
for (const item of res) {
  const logits = item?.next?.logits;
  if (!logits) throw new Error("no logits");
  if (n === null) n = Math.max(...logits.keys()) + 1;
  const row = new Float32Array(n);
  for (const [tok, v] of logits) row[tok] = v;
  rows.push(row);
}
const buf = Buffer.alloc(rows.length * n * 4);
rows.forEach((r, i) => Buffer.from(r.buffer).copy(buf, i * n * 4));
fs.writeFileSync(out, buf);
console.log(JSON.stringify({positions: rows.length, vocab: n}));
process.exit(0);
