// llama.cpp's side of scripts/bench_llamacpp.sh: loads a GGUF with node-llama-cpp's prebuilt
// libllama (CPU only) and prints one JSON line with the medians of `reps` runs of a P-token
// prefill and N decoded tokens after it (after D tokens of context), as lmc's bench does.
// usage: node bench.mjs MODEL.gguf THREADS REPS P N D
import {getLlama} from "node-llama-cpp";

const [modelPath, threads, reps, P, N, D] = process.argv.slice(2).map((a, i) => (i ? +a : a));
const llama = await getLlama({gpu: false, build: "never", maxThreads: threads, logLevel: "warn"});
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const context = await model.createContext({
  contextSize: D + P + N + 8, batchSize: 512, threads, flashAttention: false,
});
const sequence = context.getSequence();
const ids = (n, seed) => Array.from({length: n}, (_, i) => 100 + ((i + 1) * seed) % 30000);
const median = a => a.slice().sort((x, y) => x - y)[a.length >> 1];

const prefill = [], decode = [];
for (let r = 0; r <= reps; r++) {  // Run 0 is the warm-up.
  await sequence.clearHistory();
  if (D) await sequence.evaluateWithoutGeneratingNewTokens(ids(D, 53));
  let start = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(ids(P, 37));
  const prefillSeconds = (performance.now() - start) / 1e3;
  let n = 0;
  start = performance.now();
  for await (const _ of sequence.evaluate([100], {temperature: 0})) {
    if (++n === N) break;
  }
  if (n !== N) throw new Error(`decode stopped after ${n} of ${N} tokens`);
  if (r) {
    prefill.push(P / prefillSeconds);
    decode.push(N / ((performance.now() - start) / 1e3));
  }
}
console.log(JSON.stringify({prefill_tok_s: median(prefill), decode_tok_s: median(decode)}));
process.exit(0);
