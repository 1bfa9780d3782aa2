// Writes the tokenizer test corpus as JSON Lines (one JSON string per line) to
// stdout: hand-picked hard cases, then seeded random mixtures of them.
// usage: node gen_corpus.js [--bench MEGABYTES] [--seed N]
//   --bench: instead, a mixed corpus of about that many megabytes for speed runs.
"use strict";

const args = process.argv.slice(2);
let seed = 12345;
let benchMb = 0;
for (let i = 0; i < args.length; ++i) {
  if (args[i] === "--seed") seed = Number(args[++i]);
  else if (args[i] === "--bench") benchMb = Number(args[++i]);
}

// xorshift32: the same corpus on every machine.
let state = seed >>> 0 || 1;
function rand() {
  state ^= state << 13; state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5; state >>>= 0;
  return state / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const prose = [
  "The quick brown fox jumps over the lazy dog.",
  "It was the best of times, it was the worst of times; it was the age of wisdom.",
  "Tokenizers split text into pieces, then merge bytes by rank until none apply.",
  "Mr. O'Neil's dog—a 3-year-old beagle—didn't bark (much) at 5:30 a.m.!",
  "Once upon a time, there was a little girl named Lily. She loved to play outside.",
];
const code = [
  "int main(int argc, char** argv) {\n  return argc > 1 ? 0 : 1;\n}\n",
  "def f(x):\n\tif x:\n\t\treturn [i ** 2 for i in range(x)]\n    return None\n",
  "for (auto& [k, v] : map) { sum += v * 0x1F; }  // comment\r\n",
  "SELECT id, name FROM users WHERE age >= 21 ORDER BY name DESC;",
  "    \"key\": [1, 2, 3], 'other': {\"a\": null}\n",
  "x=>x&&y||!z;a+=b<<2;c>>>=1;/* */#include <vector>",
];
const numbers = ["0", "7", "42", "1234", "12345678901234567890", "3.14159265358979",
  "1,000,000", "-17.5e-3", "2024-01-31", "٣٤٥", "१२३४", "½ ⅓ ²³", "Ⅻ", "0x7FFF_FFFF"];
const spaces = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n",
  " \n", "\n ", "  \n  ", "\t\n", " \t ", "\r", "\u000b", "\f", "\u00a0", "\u3000", "\u2028",
  "\u2029", "\u0085", "\u1680", "\u2009", "\u202f", "\ufeff", "\u200b", "\u001c"];
const scripts = ["中文字符测试，你好世界。", "こんにちは世界、カタカナとひらがな。", "안녕하세요 세계, 한국어 문장입니다.",
  "مرحبا بالعالم، هذه جملة عربية.", "नमस्ते दुनिया, यह हिंदी है।", "Привет, мир! Ёлка.", "Γειά σου Κόσμε",
  "שלום עולם", "สวัสดีชาวโลก", "Xin chào thế giới", "Ελληνικά ΚΕΦΑΛΑΙΑ", "ǅemal ǈubljana ǋ",
  "ʰʲʷ ˈsʌmθɪŋ", "ﬁﬂ ﬀ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝", "ᏣᎳᎩ", "ꯃꯩꯇꯩ", "𓀀𓀁 𐌰𐌱"];
const emoji = ["👍", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸🇯🇵", "❤️", "🧑🏿‍💻", "😀😃😄", "☃", "🏳️‍🌈", "1️⃣"];
const marks = ["café".normalize("NFC"), "café".normalize("NFD"), "Å".normalize("NFD"), "a\u0301\u0302\u0303",
  "Z\u0351\u0352\u0353a\u0354l\u0355g\u0356o", "\u0301leading mark", "e\u0301\u0301\u0301",
  "ñ".normalize("NFD"), "한".normalize("NFD"), "क्षत्रिय", "\u0300"];
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Re", "'rE", "'VE",
  "'M", "'LL", "'Ll", "'lL", "'D", "don't", "DON'T", "I'M", "we'RE", "they'Ve", "it's", "IT'S", "'ſ", "'x",
  "''", "'", "y'all'll've", "rock'n'roll", "’s", "JOHN'S", "John's"];
const urls = ["https://example.com/path/to/page?query=1&b=two#frag", "http://localhost:8080/",
  "user.name+tag@example.co.uk", "C:\\Windows\\System32\\", "/usr/local/bin/lmc --help", "a/b/c//d///"];
const specials = ["<|endoftext|>", "<|endoftext|", "<|endoftext|>\n", "x<|endoftext|>y", "<|begin_of_text|>",
  "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>", "<|fim_prefix|>", "<|endofprompt|>",
  "< |endoftext| >", "<|reserved_special_token_5|>", "<|<|endoftext|>|>", "<s>", "</s>", "[CLS]"];
const pools = [prose, code, numbers, spaces, scripts, emoji, marks, contractions, urls, specials];

function randomCodePoints(n) {
  let s = "";
  for (let i = 0; i < n; ++i) {
    const r = rand();
    let cp;
    if (r < 0.3) cp = int(0x20, 0x7e);
    else if (r < 0.6) cp = int(0xa0, 0x2fff);
    else if (r < 0.8) cp = int(0x3000, 0xd7ff);
    else if (r < 0.9) cp = int(0xe000, 0xffff);
    else cp = int(0x10000, 0x2ffff);
    s += String.fromCodePoint(cp);
  }
  return s;
}

function mixture(maxParts) {
  let s = "";
  const parts = int(1, maxParts);
  for (let i = 0; i < parts; ++i) {
    s += pick(pick(pools));
    if (rand() < 0.5) s += pick(spaces.slice(0, 12));
  }
  return s;
}

const out = [];
if (benchMb > 0) {
  // Documents of a few KB: prose and code heavy, like real prompts.
  let size = 0;
  while (size < benchMb * 1e6) {
    let doc = "";
    const target = int(500, 8000);
    while (doc.length < target) {
      const r = rand();
      doc += r < 0.45 ? pick(prose) : r < 0.7 ? pick(code) : r < 0.8 ? pick(numbers) : r < 0.9 ? pick(scripts) : mixture(3);
      doc += rand() < 0.7 ? " " : "\n";
    }
    out.push(doc);
    size += Buffer.byteLength(doc);
  }
} else {
  out.push("");
  for (const pool of pools) for (const s of pool) out.push(s);
  for (const s of prose) out.push(s.toUpperCase(), s.toLowerCase());
  for (const s of contractions) out.push("word" + s + " and" + s + "\n" + s.toUpperCase());
  for (let k = 1; k <= 12; ++k) {
    out.push("a" + " ".repeat(k) + "b", "x" + "\n".repeat(k), " ".repeat(k), "\t".repeat(k) + "y",
      "end" + " ".repeat(k), " ".repeat(k) + "\n" + " ".repeat(k) + "z", "1" + "\r\n".repeat(k));
  }
  out.push("9".repeat(200), "1234567".repeat(30), "a".repeat(3000), "supercalifragilistic".repeat(100),
    "!".repeat(1000), "HeLLo".repeat(300), "ab".repeat(2500), " ".repeat(500) + "x",
    "\n".repeat(300), "😀".repeat(400), "中".repeat(1000));
  out.push(randomCodePoints(5000));
  out.push("lone \ud800 surrogate", "a\udc00b", "\ud83d");
  out.push("nul\u0000byte", "\u0001\u0002\u0003\u007f");
  // Bytes some vocabularies lack (Falcon: 0x03, 0x0B; StarCoder: 0xF1, the lead
  // byte of U+40000..U+7FFFF), between letters that merge across them.
  // Latin-1 letters that are also added tokens in DeepSeek's vocabs.
  out.push("Führer", "õ÷Áý Àÿ øú þüùöû", "Ürün ñandú");
  out.push("th\u0003e c\u000bat", "in\u{50000}g \u{50000}\u{7ffff}x", "\u0004\u0005 x\u001e");
  for (let i = 0; i < 40; ++i) out.push(randomCodePoints(int(1, 120)));
  for (let i = 0; i < 300; ++i) out.push(mixture(12));
  for (let i = 0; i < 20; ++i) out.push(mixture(60));
}
process.stdout.write(out.map((s) => JSON.stringify(s)).join("\n") + "\n");
