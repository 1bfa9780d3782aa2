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
process.exit(failed ? 1 : 0);
