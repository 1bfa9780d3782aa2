// The chat page (GET /) in a real browser: headless chromium driven over the DevTools
// protocol (CDP, WebSocket from the `ws` package). Types into the page, clicks its buttons
// with mouse events, and reads what the page shows:
//   - a chat model: two turns, each reply (streamed into the page) equal to the server's
//     greedy reply for that conversation; tokens/s shown after each;
//   - a model without a chat template: the page continues the text through /v1/completions,
//     equal to the server's greedy completion;
//   - Stop during a long reply (a slower model: random weights at a larger shape, tens of
//     tokens a second): the page keeps the part received, the server cancels the request
//     (/metrics lmc_requests_cancelled_total goes up).
// usage: node browser_test.mjs CHROMIUM CHAT_URL PLAIN_URL SLOW_URL PROFILE_DIR
// Prints "ok: ..." / "FAIL: ..." lines; exits non-zero on any failure.
import { spawn } from "node:child_process";
import WebSocket from "ws";

const [chromiumPath, chatUrl, plainUrl, slowUrl, profile] = process.argv.slice(2);
let failures = 0;
const ok = (what) => console.log(`ok: ${what}`);
const fail = (what) => {
  console.log(`FAIL: ${what}`);
  ++failures;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The server's own greedy answer, non-streamed.
async function post(url, path, body) {
  const response = await fetch(url + path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const json = await response.json();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}
async function cancelledCount(url) {
  const text = await (await fetch(url + "/metrics")).text();
  return Number(/^lmc_requests_cancelled_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

// Chromium, headless, DevTools on a port it picks (it prints the address on stderr).
const browser = spawn(chromiumPath, [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
  "--disable-dev-shm-usage", "--remote-debugging-port=0", `--user-data-dir=${profile}`,
  "about:blank"], { stdio: ["ignore", "ignore", "pipe"] });
const killBrowser = () => { try { browser.kill("SIGKILL"); } catch {} };
process.on("exit", killBrowser);
const watchdog = setTimeout(() => {
  fail("timed out after 60 s");
  process.exit(1);
}, 60000);

const devtools = await new Promise((resolve, reject) => {
  let err = "";
  browser.stderr.on("data", (d) => {
    err += d;
    const m = /DevTools listening on (ws:\/\/[^\s]+)/.exec(err);
    if (m) resolve(new URL(m[1]));
  });
  browser.on("exit", (code) => reject(new Error(`chromium exited (${code}): ${err}`)));
});

// The page target's WebSocket, and a promise-per-call CDP client over it.
const targets = await (await fetch(`http://${devtools.host}/json/list`)).json();
const page = targets.find((t) => t.type === "page");
const socket = new WebSocket(page.webSocketDebuggerUrl, { perMessageDeflate: false });
await new Promise((resolve, reject) => { socket.on("open", resolve); socket.on("error", reject); });
let nextId = 1;
const pending = new Map();
socket.on("message", (data) => {
  const message = JSON.parse(data);
  const call = pending.get(message.id);
  if (!call) return;
  pending.delete(message.id);
  if (message.error) call.reject(new Error(JSON.stringify(message.error)));
  else call.resolve(message.result);
});
const cdp = (method, params = {}) => new Promise((resolve, reject) => {
  const id = nextId++;
  pending.set(id, { resolve, reject });
  socket.send(JSON.stringify({ id, method, params }));
});
async function evaluate(expression) {
  const r = await cdp("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(`${expression}: ${JSON.stringify(r.exceptionDetails)}`);
  return r.result.value;
}
async function waitFor(expression, what, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await evaluate(expression);
    if (value) return value;
    if (Date.now() > end) throw new Error(`waited ${ms} ms for ${what}`);
    await sleep(5);
  }
}
// A real click: mouse pressed and released at the element's centre.
async function click(selector) {
  const [x, y] = await evaluate(`(() => { const r = document.querySelector(${JSON.stringify(
    selector)}).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`);
  for (const type of ["mousePressed", "mouseReleased"]) {
    await cdp("Input.dispatchMouseEvent", { type, x, y, button: "left", clickCount: 1 });
  }
}
// Typing: focus the field, select what it holds, insert the text as the keyboard would.
async function type(selector, text) {
  await evaluate(`(() => { const e = document.querySelector(${JSON.stringify(selector)});
    e.focus(); e.select(); })()`);
  await cdp("Input.insertText", { text });
}
const lastReply = `[...document.querySelectorAll("#log .msg.assistant")].at(-1)`;
const replies = () => evaluate(`[...document.querySelectorAll("#log .msg.assistant")].map(
  (e) => ({ text: e.textContent, state: e.dataset.state }))`);
// Sends a prompt through the page and waits until its reply has ended.
async function turn(prompt) {
  const before = (await replies()).length;
  await type("#prompt", prompt);
  await click("#send");
  await waitFor(`document.querySelectorAll("#log .msg.assistant").length > ${before} &&
    ["done", "stopped", "error"].includes(${lastReply}.dataset.state)`, "the reply");
  const all = await replies();
  const stats = await evaluate(`[...document.querySelectorAll("#log .stats")].at(-1).textContent`);
  return { ...all.at(-1), stats };
}
async function open(url) {
  await cdp("Page.enable");
  await cdp("Runtime.enable");
  await cdp("Page.navigate", { url: url + "/" });
  await waitFor(`document.readyState === "complete" && !!document.getElementById("send")`,
                "the page to load");
}

try {
  // 1. A chat model, two turns at temperature 0.
  await open(chatUrl);
  const title = await evaluate(`document.getElementById("title").textContent`);
  title.includes("chat") ? ok(`chat page title '${title}'`) : fail(`title '${title}'`);
  await type("#temperature", "0");
  await type("#max-tokens", "24");
  const messages = [];
  for (const prompt of ["Tell me a story about a cat.", "What happened next?"]) {
    const start = Date.now();
    const got = await turn(prompt);
    messages.push({ role: "user", content: prompt });
    const want = await post(chatUrl, "/v1/chat/completions",
                            { messages, temperature: 0, max_tokens: 24 });
    const expected = want.choices[0].message.content;
    messages.push({ role: "assistant", content: expected });
    if (got.state === "done" && got.text === expected && expected.length > 0) {
      ok(`chat turn ${messages.length / 2}: the streamed reply equals the greedy one ` +
         `(${JSON.stringify(expected.slice(0, 40))}..., ${Date.now() - start} ms)`);
    } else {
      fail(`chat turn ${messages.length / 2}: page ${got.state} ${JSON.stringify(got.text)} ` +
           `vs server ${JSON.stringify(expected)}`);
    }
    /^\d+ tokens in [\d.]+ s · [\d.]+ tokens\/s/.test(got.stats)
      ? ok(`tokens/s shown: '${got.stats}'`) : fail(`stats '${got.stats}'`);
  }

  // 2. A model without a chat template: the page continues one text.
  await open(plainUrl);
  const plainTitle = await evaluate(`document.getElementById("title").textContent`);
  plainTitle.includes("completion") ? ok(`no template: '${plainTitle}'`)
                                    : fail(`plain title '${plainTitle}'`);
  await type("#temperature", "0");
  await type("#max-tokens", "40");
  const got = await turn("Once upon a time");
  const want = (await post(plainUrl, "/v1/completions",
                           { prompt: "Once upon a time", temperature: 0, max_tokens: 40 }))
                   .choices[0].text;
  got.state === "done" && got.text === want
    ? ok(`completion mode: the streamed text equals the greedy one (${got.stats})`)
    : fail(`completion mode: page ${JSON.stringify(got.text)} vs ${JSON.stringify(want)}`);

  // 3. Stop: a long reply (up to 480 tokens, seconds on the slow model), stopped at its
  // first words with a click.
  await open(slowUrl);
  const cancelledBefore = await cancelledCount(slowUrl);
  await type("#temperature", "0");
  await type("#max-tokens", "480");
  await type("#prompt", "Once upon a time");
  await click("#send");
  await waitFor(`${lastReply}?.textContent.length > 0`, "the first words");
  await click("#stop");
  await waitFor(`${lastReply}.dataset.state !== "streaming"`, "the reply to stop");
  const [stopped] = await replies();
  const longer = (await post(slowUrl, "/v1/completions",
                             { prompt: "Once upon a time", temperature: 0, max_tokens: 100 }))
                     .choices[0].text;
  stopped.state === "stopped" && longer.startsWith(stopped.text) &&
      stopped.text.length < longer.length
    ? ok(`Stop: the page kept the ${stopped.text.length} characters received, a prefix of ` +
         `the greedy reply`)
    : fail(`Stop: ${stopped.state} ${JSON.stringify(stopped.text.slice(0, 80))} vs ` +
           `${JSON.stringify(longer.slice(0, 80))}`);
  let cancelled = NaN;
  for (let i = 0; i < 100; ++i) {
    cancelled = await cancelledCount(slowUrl);
    if (cancelled > cancelledBefore) break;
    await sleep(20);
  }
  cancelled > cancelledBefore
    ? ok(`the server cancelled the stopped request (cancelled ${cancelledBefore} -> ${cancelled})`)
    : fail(`no cancellation on the server after Stop (${cancelledBefore} -> ${cancelled})`);
  const sendEnabled = await evaluate(`!document.getElementById("send").disabled &&
    document.getElementById("stop").disabled`);
  sendEnabled ? ok("after Stop, Send is enabled again") : fail("buttons after Stop");
} catch (e) {
  fail(e.stack || String(e));
}
clearTimeout(watchdog);
socket.close();
killBrowser();
process.exit(failures ? 1 : 0);
