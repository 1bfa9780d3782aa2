#!/usr/bin/env node
// A load test for `MODEL serve`: N clients, each streaming completions back to back for a
// while, on a server already running. Node's own http module only (no npm packages).
//
//   node scripts/serve_load.mjs --url http://127.0.0.1:8080 [--clients 16] [--seconds 60]
//        [--max-tokens 64] [--prompt-ids 1,2,3 | --prompt TEXT] [--temperature 0.8] [--json]
//
// Every request is POST /v1/completions with stream: true (a different seed each). Each
// response is checked as it arrives: status 200, Content-Type text/event-stream, every event
// one `data: {json}` line and a blank line, text_completion chunks, the last chunk with a
// finish_reason and usage (completion_tokens >= 1), then `data: [DONE]` and the end of the
// connection. Requests begun before the time is up run to their end.
//
// Reports: requests, failed (network error or non-200), malformed streams, time to first
// token (first chunk with text) p50/p90/p99/max, generated tokens, aggregate tok/s (every
// generated token over the wall time), per-stream decode tok/s p50 (tokens after the first
// over the time after it), and the 1-minute load average at start and end (the machine may
// be shared). Exits 1 when any request failed or was malformed, or none finished.
import http from "node:http";
import os from "node:os";

function parseArgs(argv) {
  const o = { clients: 16, seconds: 60, maxTokens: 64, temperature: 0.8, json: false };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i], next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--url") o.url = next();
    else if (a === "--clients") o.clients = Number(next());
    else if (a === "--seconds") o.seconds = Number(next());
    else if (a === "--max-tokens") o.maxTokens = Number(next());
    else if (a === "--temperature") o.temperature = Number(next());
    else if (a === "--prompt") o.prompt = next();
    else if (a === "--prompt-ids") o.promptIds = next().split(",").map(Number);
    else if (a === "--json") o.json = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.url) throw new Error("--url is required");
  for (const k of ["clients", "seconds", "maxTokens"]) {
    if (!(o[k] > 0) || !Number.isFinite(o[k])) throw new Error(`--${k}: expected a positive number`);
  }
  return o;
}

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`serve_load: ${e.message}`);
  process.exit(2);
}
const url = new URL(options.url);
const prompts = options.promptIds ? [options.promptIds]
  : options.prompt ? [options.prompt]
  : ["Once upon a time", "The little dog", "One day, a girl named Lily", "Tom and Sue went to",
     "The sun was shining", "A big red ball"];

// One streamed completion; resolves to {ok, malformed, status, error, ttft, tokens, decode}.
function streamOnce(client, n) {
  const body = JSON.stringify({
    prompt: prompts[(client + n) % prompts.length], max_tokens: options.maxTokens,
    temperature: options.temperature, seed: client * 100003 + n, stream: true });
  const start = performance.now();
  return new Promise((resolve) => {
    const result = { ok: false, malformed: "", status: 0, error: "", ttft: NaN, tokens: 0 };
    const req = http.request({
      host: url.hostname, port: url.port, path: "/v1/completions", method: "POST",
      agent: false,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) },
    }, (res) => {
      result.status = res.statusCode;
      let raw = "", first = 0, done = false, finish = null;
      const bad = (why) => { if (!result.malformed) result.malformed = why; };
      if (res.statusCode !== 200) result.error = `HTTP ${res.statusCode}`;
      else if (!String(res.headers["content-type"]).startsWith("text/event-stream")) {
        bad(`Content-Type ${res.headers["content-type"]}`);
      }
      res.setEncoding("utf8");
      res.on("data", (data) => {
        raw += data;
        let end;
        while ((end = raw.indexOf("\n\n")) >= 0) {
          const event = raw.slice(0, end);
          raw = raw.slice(end + 2);
          if (done) { bad("an event after [DONE]"); continue; }
          if (!event.startsWith("data: ") || event.includes("\n")) {
            bad(`malformed event ${JSON.stringify(event.slice(0, 80))}`);
            continue;
          }
          const payload = event.slice(6);
          if (payload === "[DONE]") { done = true; continue; }
          let chunk;
          try { chunk = JSON.parse(payload); } catch { bad("a chunk that is not JSON"); continue; }
          if (chunk.error) { bad(`an error event: ${chunk.error.message}`); continue; }
          const choice = chunk.choices?.[0];
          if (chunk.object !== "text_completion" || !choice || typeof choice.text !== "string") {
            bad(`not a text_completion chunk: ${payload.slice(0, 80)}`);
            continue;
          }
          if (finish) bad("a chunk after the finish_reason");
          if (choice.text && !first) first = performance.now();
          if (choice.finish_reason) {
            finish = choice.finish_reason;
            result.tokens = chunk.usage?.completion_tokens ?? 0;
          }
        }
      });
      res.on("end", () => {
        const end = performance.now();
        if (res.statusCode === 200) {
          if (raw.length) bad("bytes after the last event");
          if (!done) bad("no data: [DONE]");
          if (!finish) bad("no finish_reason");
          if (!(result.tokens >= 1)) bad("no usage.completion_tokens");
        }
        result.ttft = first ? first - start : NaN;
        result.decode = first && result.tokens > 1 ? (result.tokens - 1) / ((end - first) / 1000) : NaN;
        result.ok = res.statusCode === 200 && !result.malformed;
        resolve(result);
      });
      res.on("error", (e) => { result.error = e.message; resolve(result); });
    });
    req.on("error", (e) => { result.error = e.message; resolve(result); });
    req.end(body);
  });
}

const percentile = (sorted, p) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;

const load0 = os.loadavg()[0];
const t0 = performance.now();
const deadline = t0 + options.seconds * 1000;
const results = [];
await Promise.all(Array.from({ length: options.clients }, async (_, client) => {
  for (let n = 0; performance.now() < deadline; ++n) results.push(await streamOnce(client, n));
}));
const wall = (performance.now() - t0) / 1000;
const load1 = os.loadavg()[0];

const failed = results.filter((r) => r.error);
const malformed = results.filter((r) => !r.error && r.malformed);
const ttft = results.filter((r) => r.ok).map((r) => r.ttft).filter(Number.isFinite).sort((a, b) => a - b);
const decode = results.filter((r) => r.ok).map((r) => r.decode).filter(Number.isFinite).sort((a, b) => a - b);
const tokens = results.reduce((sum, r) => sum + (r.ok ? r.tokens : 0), 0);
const report = {
  clients: options.clients, seconds: options.seconds, max_tokens: options.maxTokens,
  requests: results.length, failed: failed.length, malformed: malformed.length,
  ttft_ms: { p50: percentile(ttft, 50), p90: percentile(ttft, 90), p99: percentile(ttft, 99),
             max: ttft.at(-1) ?? NaN },
  generated_tokens: tokens, wall_seconds: wall, aggregate_tok_s: tokens / wall,
  stream_decode_tok_s_p50: percentile(decode, 50),
  loadavg_1min: { start: load0, end: load1 }, cpus: os.cpus().length,
};
if (options.json) {
  console.log(JSON.stringify(report));
} else {
  const f = (x, d = 1) => Number.isFinite(x) ? x.toFixed(d) : "n/a";
  console.log(`serve_load: ${report.clients} clients for ${report.seconds} s (max_tokens ` +
              `${report.max_tokens}), ${f(wall)} s wall; load average ${f(load0, 2)} -> ` +
              `${f(load1, 2)} on ${report.cpus} CPUs`);
  console.log(`  requests ${report.requests}, failed ${report.failed}, malformed ${report.malformed}`);
  console.log(`  time to first token ms: p50 ${f(report.ttft_ms.p50)}, p90 ${f(report.ttft_ms.p90)}, ` +
              `p99 ${f(report.ttft_ms.p99)}, max ${f(report.ttft_ms.max)}`);
  console.log(`  generated ${tokens} tokens: aggregate ${f(report.aggregate_tok_s)} tok/s; ` +
              `one stream's decode p50 ${f(report.stream_decode_tok_s_p50)} tok/s`);
}
for (const r of [...failed, ...malformed].slice(0, 5)) {
  console.error(`serve_load: ${r.error || r.malformed}`);
}
process.exit(failed.length || malformed.length || !results.some((r) => r.ok) ? 1 : 0);
