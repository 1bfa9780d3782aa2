// The official openai client's embeddings.create against `MODEL serve` on an encoder and a
// decoder (run by tests/e2e/serve_embeddings_test.sh). EXPECTED.json: {"model", "mean": {text:
// vector}, "cls": {...}, "pooler": {...}, "ids": {"101,7592,102": mean vector}, "tokens": {text:
// n}, "decoder": {"model", "d_model", "urls": {"last": URL, "mean": URL}, "last": {text: vector},
// "mean": {...}, "ids": {"1,2,3": last vector}, "tokens": {text: n}}}, each vector the model
// binary's `embed --pool P` output.
// usage: node embeddings_test.mjs MEAN_URL CLS_URL POOLER_URL EXPECTED.json
// Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
import fs from "node:fs";
import OpenAI from "openai";

const [meanUrl, clsUrl, poolerUrl, expectedFile] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedFile, "utf8"));
const model = expected.model;
const client = (url) => new OpenAI({ baseURL: url + "/v1", apiKey: "unused", maxRetries: 0 });
let failed = 0;
const check = (ok, what, detail = "") => {
  console.log(ok ? `ok: embeddings: ${what}` : `FAIL: embeddings: ${what} ${detail}`);
  if (!ok) failed++;
};
// The largest difference from the CLI's vector (Infinity when the lengths differ).
const diff = (got, want) => got.length !== want.length ? Infinity
  : Math.max(...want.map((w, i) => Math.abs(got[i] - w)));
const texts = Object.keys(expected.mean);

// The client's default asks for base64 and decodes it to floats.
const one = await client(meanUrl).embeddings.create({ model, input: texts[0] });
check(one.object === "list" && one.data.length === 1 && one.data[0].object === "embedding" &&
      one.model === model, "one text: the response's shape", JSON.stringify(one).slice(0, 200));
let d = diff(one.data[0].embedding, expected.mean[texts[0]]);
check(d <= 1e-6, `one text (base64, the client's default) equals embed --pool mean (max diff ${d})`);
check(one.usage.prompt_tokens === expected.tokens[texts[0]] &&
      one.usage.total_tokens === expected.tokens[texts[0]], "usage counts [CLS] text [SEP]",
      JSON.stringify(one.usage));

for (const [url, pooling] of [[meanUrl, "mean"], [clsUrl, "cls"], [poolerUrl, "pooler"]]) {
  const many = await client(url).embeddings.create({ model, input: texts,
                                                     encoding_format: "float" });
  const diffs = texts.map((t, i) => many.data[i].index === i
    ? diff(many.data[i].embedding, expected[pooling][t]) : Infinity);
  check(Math.max(...diffs) <= 1e-6,
        `${texts.length} texts as floats, --pooling ${pooling}: each equals embed --pool ` +
        `${pooling} (max diff ${Math.max(...diffs)})`);
  const total = texts.reduce((sum, t) => sum + expected.tokens[t], 0);
  check(many.usage.prompt_tokens === total, `usage sums the inputs' tokens (${total})`,
        JSON.stringify(many.usage));
}

for (const [ids, vector] of Object.entries(expected.ids)) {
  const tokens = ids.split(",").map(Number);
  const asIds = await client(meanUrl).embeddings.create({ model, input: tokens });
  d = diff(asIds.data[0].embedding, vector);
  check(d <= 1e-6, `token ids [${ids}] equal embed --tokens (max diff ${d})`);
  const nested = await client(meanUrl).embeddings.create({ model, input: [tokens, tokens],
                                                           encoding_format: "base64" });
  // Asked for explicitly, base64 comes back as the string: float32, little-endian.
  const bytes = Buffer.from(nested.data[1].embedding, "base64");
  const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
  check(nested.data.length === 2 && typeof nested.data[1].embedding === "string" &&
        diff(decoded, vector) <= 1e-6, "an array of token arrays, base64 asked for");
}

// Refusals: OpenAI's error, the status and the field.
async function refused(body, status, param, url = meanUrl) {
  try {
    await client(url).embeddings.create(body);
    check(false, `${JSON.stringify(body).slice(0, 60)} refused`, "(accepted)");
  } catch (e) {
    check(e.status === status && (e.param ?? e.error?.param) === param,
          `${status} (${param}) for ${JSON.stringify(body).slice(0, 70)}`,
          `${e.status} ${e.message}`);
  }
}
await refused({ model, input: [] }, 400, "input");
await refused({ model, input: 5 }, 400, "input");
await refused({ model, input: [1, 99999999] }, 400, "input");
await refused({ model, input: ["a", { text: "b" }] }, 400, "input[1]");
await refused({ model, input: "word ".repeat(100) }, 400, "input");
await refused({ model, input: "x", encoding_format: "int8" }, 400, "encoding_format");
await refused({ model, input: "x", dimensions: 8 }, 400, "dimensions");
await refused({ model: "text-embedding-3-small", input: "x" }, 404, "model");

// A decoder: the final hidden state, pooled by --pooling last (the default) or mean.
const dec = expected.decoder;
const decTexts = Object.keys(dec.last);
for (const pooling of ["last", "mean"]) {
  const url = dec.urls[pooling];
  const many = await client(url).embeddings.create({ model: dec.model, input: decTexts,
                                                     encoding_format: "float" });
  const lengths = many.data.map((item) => item.embedding.length);
  check(lengths.every((n) => n === dec.d_model),
        `a decoder's vectors have d_model (${dec.d_model}) floats`, JSON.stringify(lengths));
  const diffs = decTexts.map((t, i) => many.data[i].index === i
    ? diff(many.data[i].embedding, dec[pooling][t]) : Infinity);
  check(Math.max(...diffs) <= 1e-6,
        `a decoder, ${decTexts.length} texts, --pooling ${pooling}: each equals embed --prompt ` +
        `--pool ${pooling} (max diff ${Math.max(...diffs)})`);
  const total = decTexts.reduce((sum, t) => sum + dec.tokens[t], 0);
  check(many.usage.prompt_tokens === total,
        `a decoder's usage counts BOS and the text's tokens (${total})`, JSON.stringify(many.usage));
}
// The client's default (base64) and token ids.
const decOne = await client(dec.urls.last).embeddings.create({ model: dec.model,
                                                               input: decTexts[0] });
d = diff(decOne.data[0].embedding, dec.last[decTexts[0]]);
check(d <= 1e-6, `a decoder, one text (base64) equals embed --pool last (max diff ${d})`);
for (const [ids, vector] of Object.entries(dec.ids)) {
  const asIds = await client(dec.urls.last).embeddings.create({
    model: dec.model, input: ids.split(",").map(Number) });
  d = diff(asIds.data[0].embedding, vector);
  check(d <= 1e-6, `a decoder, token ids [${ids}] equal embed --tokens --pool last (max diff ${d})`);
}
await refused({ model: dec.model, input: [] }, 400, "input", dec.urls.last);
await refused({ model: dec.model, input: [[1, 2], 7] }, 400, "input[1]", dec.urls.mean);
await refused({ model: dec.model, input: "x", dimensions: dec.d_model + 1 }, 400, "dimensions",
              dec.urls.last);
await refused({ model: dec.model, input: "Once ".repeat(600) }, 400, "input", dec.urls.last);
process.exit(failed ? 1 : 0);
