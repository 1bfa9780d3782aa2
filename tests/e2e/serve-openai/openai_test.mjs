// The official openai npm client against `MODEL serve` (run by tests/e2e/serve_test.sh).
// usage: node openai_test.mjs BASE_URL EXPECTED_COMPLETION EXPECTED_CHAT MESSAGES.json
// Prints "ok: ..." / "FAIL: ..." lines; exits 1 on any failure.
import fs from "node:fs";
import OpenAI from "openai";

const [baseURL, expectedCompletion, expectedChat, messagesFile] = process.argv.slice(2);
const messages = JSON.parse(fs.readFileSync(messagesFile, "utf8"));
const client = new OpenAI({ baseURL: baseURL + "/v1", apiKey: "unused", maxRetries: 0 });
let failed = 0;
const check = (ok, what, detail = "") => {
  console.log(ok ? `ok: openai client: ${what}` : `FAIL: openai client: ${what} ${detail}`);
  if (!ok) failed++;
};
const greedy = { temperature: 0, max_tokens: 40 };

const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === "stories260k", "models.list",
      JSON.stringify(models.data));

const retrieved = await client.models.retrieve("stories260k");
check(retrieved.id === "stories260k", "models.retrieve", JSON.stringify(retrieved));

const completion = await client.completions.create({
  model: "stories260k", prompt: "Once upon a time", ...greedy });
check(completion.choices[0].text === expectedCompletion, "completions.create equals generate",
      JSON.stringify(completion.choices[0].text));
check(completion.usage.prompt_tokens === 5, "completion usage", JSON.stringify(completion.usage));

let streamed = "";
let finish = null;
for await (const chunk of await client.completions.create({
  model: "stories260k", prompt: "Once upon a time", ...greedy, stream: true })) {
  streamed += chunk.choices[0].text;
  finish = chunk.choices[0].finish_reason ?? finish;
}
check(streamed === expectedCompletion && finish !== null, "streamed completion",
      JSON.stringify([streamed, finish]));

const chat = await client.chat.completions.create({
  model: "stories260k", messages, temperature: 0, max_tokens: 24 });
check(chat.choices[0].message.content === expectedChat, "chat.completions.create equals chat",
      JSON.stringify(chat.choices[0].message));

let reply = "";
for await (const chunk of await client.chat.completions.create({
  model: "stories260k", messages, temperature: 0, max_tokens: 24, stream: true })) {
  reply += chunk.choices[0]?.delta?.content ?? "";
}
check(reply === expectedChat, "streamed chat", JSON.stringify(reply));

// Errors reach the client as its typed exceptions, with OpenAI's fields.
try {
  await client.completions.create({ model: "stories260k", prompt: "x", temperature: -1 });
  check(false, "temperature -1 refused");
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.param === "temperature",
        "temperature -1: BadRequestError naming the param", `${e.constructor.name} ${e.message}`);
}
try {
  await client.chat.completions.create({ model: "gpt-4o", messages });
  check(false, "unknown model refused");
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && e.code === "model_not_found",
        "unknown model: NotFoundError", `${e.constructor.name} ${e.message}`);
}
// JSON output through the client's own response_format, parsed and checked here.
const schema = {
  type: "object",
  properties: {
    animal: { enum: ["cat", "dog", "bird"] },
    happy: { type: "boolean" },
    age: { type: "integer" },
  },
  required: ["animal", "happy", "age"],
  additionalProperties: false,
};
const pet = await client.chat.completions.create({
  model: "stories260k", messages, temperature: 0, max_tokens: 200,
  response_format: { type: "json_schema", json_schema: { name: "pet", schema, strict: true } } });
let doc = null;
try { doc = JSON.parse(pet.choices[0].message.content); } catch (e) { doc = null; }
check(doc !== null && ["cat", "dog", "bird"].includes(doc.animal) &&
      typeof doc.happy === "boolean" && Number.isInteger(doc.age) &&
      Object.keys(doc).every((k) => k in schema.properties) && pet.choices[0].finish_reason === "stop",
      "json_schema: parses and validates", JSON.stringify(pet.choices[0]));

// Logprobs in the chat format: one entry per token; greedy picks the most likely; the
// alternatives' probabilities sum to at most 1.
const withLogprobs = await client.chat.completions.create({
  model: "stories260k", messages, temperature: 0, max_tokens: 8, logprobs: true, top_logprobs: 3 });
const content = withLogprobs.choices[0].logprobs?.content ?? [];
check(content.length === withLogprobs.usage.completion_tokens &&
      content.map((t) => t.token).join("") === withLogprobs.choices[0].message.content &&
      content.every((t) => t.top_logprobs.length === 3 && t.logprob === t.top_logprobs[0].logprob &&
                           t.top_logprobs.reduce((s, a) => s + Math.exp(a.logprob), 0) <= 1 + 1e-6),
      "logprobs + top_logprobs", JSON.stringify(withLogprobs.choices[0].logprobs));

const two = await client.completions.create({
  model: "stories260k", prompt: "Once upon a time", max_tokens: 10, seed: 5, n: 2 });
check(two.choices.length === 2 && two.choices[1].index === 1, "n=2: two choices",
      JSON.stringify(two.choices));

for (const [param, extra] of [
  ["n", { n: 0 }],
  ["logit_bias", { logit_bias: { "not-a-token": 1 } }],
  ["frequency_penalty", { frequency_penalty: 5 }],
  ["response_format", { response_format: { type: "json_schema",
                                           json_schema: { name: "x", schema: { anyOf: [] } } } }],
]) {
  try {
    await client.completions.create({ model: "stories260k", prompt: "x", ...extra });
    check(false, `${param} refused`);
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError && e.param === param,
          `bad ${param}: BadRequestError naming it`, `${e.constructor.name} ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
