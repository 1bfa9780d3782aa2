// Renders every template of templates/templates.json over every conversation of
// conversations.json, with add_generation_prompt false and true, using @huggingface/jinja
// (the renderer transformers.js uses). Prints one JSON object per line:
// {"template", "conversation", "add_generation_prompt", "ok", "text" | "error"}.
// usage: node render.js TEMPLATES_DIR CONVERSATIONS_JSON
const fs = require("fs");
const path = require("path");
const { Template } = require("@huggingface/jinja");

const [dir, conversationsFile] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, "templates.json"), "utf8"));
const conversations = JSON.parse(fs.readFileSync(conversationsFile, "utf8"));
for (const [name, tokens] of Object.entries(manifest)) {
  const source = fs.readFileSync(path.join(dir, name + ".jinja"), "utf8");
  const template = new Template(source);
  conversations.forEach((messages, index) => {
    for (const agp of [false, true]) {
      const row = { template: name, conversation: index, add_generation_prompt: agp };
      try {
        row.text = template.render({
          messages,
          bos_token: tokens.bos,
          eos_token: tokens.eos,
          add_generation_prompt: agp,
        });
        row.ok = true;
      } catch (e) {
        row.ok = false;
        row.error = String(e.message);
      }
      console.log(JSON.stringify(row));
    }
  });
}
