// Compares token id lines with the reference's, or decoded text with the corpus.
// usage: node compare.js ids CORPUS OURS REFERENCE [--skip-js-whitespace]
//        node compare.js roundtrip CORPUS DECODED
// --skip-js-whitespace: leave out texts with U+0085 or U+FEFF, where pure-JS
// regexes disagree with Unicode's White_Space (gpt-3-encoder).
// Prints each mismatch (the first few in full) and exits 1 if there is one.
"use strict";
const fs = require("fs");
const [mode, corpusPath, oursPath, refPath, flag] = process.argv.slice(2);
const lines = (p) => {
  const l = fs.readFileSync(p, "utf8").split("\n");
  if (l[l.length - 1] === "") l.pop();
  return l;
};
const corpus = lines(corpusPath).map((l) => JSON.parse(l));
const ours = lines(oursPath);
let bad = 0, checked = 0;
const report = (i, what) => {
  if (++bad <= 5) console.log(`text ${i + 1} ${JSON.stringify(corpus[i]).slice(0, 160)}\n${what}`);
};
if (ours.length !== corpus.length) {
  console.log(`${oursPath}: ${ours.length} lines for ${corpus.length} texts`);
  process.exit(1);
}
if (mode === "ids") {
  const ref = lines(refPath);
  for (let i = 0; i < corpus.length; ++i) {
    if (flag === "--skip-js-whitespace" && /[\u0085\ufeff]/.test(corpus[i])) continue;
    ++checked;
    if (ours[i] !== ref[i]) {
      const a = JSON.parse(ours[i]), b = JSON.parse(ref[i]);
      let k = 0;
      while (k < a.length && a[k] === b[k]) ++k;
      report(i, `  ours ${JSON.stringify(a.slice(k, k + 12))} ref ${JSON.stringify(b.slice(k, k + 12))} from id ${k}`);
    }
  }
} else if (mode === "roundtrip") {
  for (let i = 0; i < corpus.length; ++i) {
    ++checked;
    // Lone surrogates become U+FFFD on the way to UTF-8 (String.toWellFormed, Node >= 20).
    const want = corpus[i].replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
    const got = JSON.parse(ours[i]);
    if (got !== want) report(i, `  decoded ${JSON.stringify(got).slice(0, 160)}`);
  }
} else {
  throw new Error("unknown mode " + mode);
}
console.log(`${oursPath}: ${checked - bad} of ${checked} texts agree`);
process.exit(bad ? 1 : 0);
