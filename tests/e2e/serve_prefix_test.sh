#!/usr/bin/env bash
# MODEL serve's prefix cache (stories260K): the same requests, one after another and then four
# at once, to a server with the cache (--prefix-cache on, the default) and one without: every
# text is the same, greedy and seeded sampling alike, while the first server's /metrics show
# the prompt tokens it did not prefill again (a prompt repeated, a prompt extending an earlier
# prompt and its reply, token-id prompts).
# usage: serve_prefix_test.sh PLAIN_MODEL ASSETS WORK_DIR
source "$(dirname "$0")/lib.sh"
model=$1 assets=$2 work=$3
mkdir -p "$work"
A=$assets/llama2c-stories260K
require_asset "$A/stories260K.bin"

start_server() {  # NAME FLAGS...: sets ${NAME}_pid and ${NAME}_url
  local name=$1
  shift
  launch_server "$name" "$model" serve --weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin" \
    --port 0 "$@"
}
trap 'for p in ${cached_pid:-} ${plain_pid:-}; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
start_server cached --slots 2
start_server plain --slots 2 --prefix-cache off
expect_error "--prefix-cache maybe" 2 "expected on or off" -- "$model" serve \
  --weights "$A/stories260K.bin" --tokenizer "$A/tok512.bin" --prefix-cache maybe

# The requests, as files of JSON bodies: a long prompt, it again, it with its greedy reply and
# more, seeded sampling from it, token ids, and four at once sharing a start.
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
story = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the "
         "sun. One day, she saw a big tree with a swing. She wanted to play on the swing, but it "
         "was too high. She asked her mom to help her. Her mom said yes and lifted her up.")
def body(prompt, **kw):
    return json.dumps({"prompt": prompt, "max_tokens": 30, "temperature": 0, **kw})
seq = [body(story), body(story), body(story + " Lily was happy."),
       body(story, temperature=1.0, top_p=0.9, seed=7), body(story + " Then", seed=3, temperature=0.8),
       body([1, 403, 407, 261, 378, 11, 312]), body([1, 403, 407, 261, 378, 11, 312, 280])]
open(f"{work}/sequence.txt", "w").write("\n".join(seq) + "\n")
burst = [body(story + s) for s in (" The end.", " Then", " Lily", " The bird")]
open(f"{work}/burst.txt", "w").write("\n".join(burst) + "\n")
PY
# run URL OUT: the sequence one by one (the third request also appends the first's reply),
# then the burst at once; the texts into OUT, one per line (JSON strings).
run() {
  local url=$1 out=$2 i=0
  : >"$out"
  while IFS= read -r line; do
    i=$((i + 1))
    if [ "$i" = 3 ]; then  # the story, its greedy reply, then more
      line=$(/usr/bin/python3 -c 'import json,sys; b=json.loads(sys.argv[1]); r=json.loads(sys.argv[2]); b["prompt"]=b["prompt"].replace(" Lily was happy.", r + " Lily was happy."); print(json.dumps(b))' "$line" "$(head -1 "$out")")
    fi
    curl -s "$url/v1/completions" -H 'Content-Type: application/json' -d "$line" |
      /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["choices"][0]["text"]))' >>"$out"
  done <"$work/sequence.txt"
  local n=0 pids=()
  while IFS= read -r line; do
    n=$((n + 1))
    curl -s "$url/v1/completions" -H 'Content-Type: application/json' -d "$line" \
      -o "$out.burst$n" &
    pids+=($!)
  done <"$work/burst.txt"
  wait "${pids[@]}"
  for k in $(seq "$n"); do
    /usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["choices"][0]["text"]))' "$out.burst$k" >>"$out"
  done
}
run "$cached_url" "$work/cached.txt"
run "$plain_url" "$work/plain.txt"
lines=$(grep -c . "$work/cached.txt")
if cmp -s "$work/cached.txt" "$work/plain.txt" && [ "$lines" = 11 ] && ! grep -qx '""' "$work/cached.txt"; then
  pass "11 texts (greedy, seeded, token ids, 4 at once) the same with and without the cache"
else
  fail "texts differ: $(diff "$work/cached.txt" "$work/plain.txt" | head -6)"
fi

metric() { curl -s "$1/metrics" | sed -n "s/^$2 //p"; }
cached_tokens=$(metric "$cached_url" lmc_prompt_tokens_cached_total)
cached_prefill=$(metric "$cached_url" lmc_prompt_tokens_total)
plain_tokens=$(metric "$plain_url" lmc_prompt_tokens_cached_total)
plain_prefill=$(metric "$plain_url" lmc_prompt_tokens_total)
[ "${cached_tokens:-0}" -ge 200 ] && [ "$plain_tokens" = 0 ] &&
  [ $((cached_prefill + cached_tokens)) = "$plain_prefill" ] &&
  pass "the cache spared $cached_tokens of $plain_prefill prompt tokens ($cached_prefill prefilled)" ||
  fail "metrics: cached $cached_tokens (prefilled $cached_prefill), without: $plain_tokens ($plain_prefill)"

for name in cached plain; do
  pid_var=${name}_pid
  kill -TERM "${!pid_var}"
  wait "${!pid_var}" && pass "$name server: SIGTERM exits 0" || fail "$name server exit $?"
done
cached_pid="" plain_pid=""
grep -E "Sanitizer|runtime error" "$work"/*.log && fail "sanitizer reports in the server logs"
finish
