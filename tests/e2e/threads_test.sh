#!/usr/bin/env bash
# Thread-count independence and the bench command: a model large enough for the pool to split
# its matmuls (tests/specs/valid/tiny_llama_hf.yaml with wider sizes, so row ranges end
# mid-tile) must give bit-identical logits with 1, 2 and 3 threads, through prefill (two
# chunks) and decode; `bench --json` must print every documented key.
# usage: threads_test.sh LMC SOURCE_DIR CACHE_DIR
source "$(dirname "$0")/lib.sh"
lmc=$1 src=$2 cache=$3
spec=$src/tests/specs/valid/tiny_llama_hf.yaml
sets=(--set sizes.d_model=256 --set attention.n_heads=8 --set attention.n_kv_heads=2
      --set feed_forward.hidden=700 --set sizes.vocab=1000)
bin=$tmp/model weights=$tmp/w.safetensors
"$lmc" build "$spec" "${sets[@]}" -o "$bin" --cache-dir "$cache" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log"; fail "lmc build"; finish; exit 1; }
"$lmc" random-weights "$spec" "${sets[@]}" -o "$weights" --seed 3 || { fail "weights"; finish; exit 1; }

tokens=$(seq -s, 0 149 | awk -F, '{for (i = 1; i <= NF; i++) printf "%s%d", (i > 1 ? "," : ""), ($i * 37 + 11) % 1000}')
for t in 1 2 3; do
  "$bin" logits --weights "$weights" --tokens "$tokens" --out "$tmp/prefill-$t.npy" --threads "$t" ||
    fail "prefill, $t threads"
  "$bin" --threads="$t" logits --weights "$weights" --tokens "$tokens" --out "$tmp/decode-$t.npy" \
    --decode || fail "decode, $t threads"
done
for path in prefill decode; do
  for t in 2 3; do
    if cmp -s "$tmp/$path-1.npy" "$tmp/$path-$t.npy"; then
      pass "$path: $t threads bit-identical to 1"
    else
      fail "$path: $t threads differ from 1"
    fi
  done
done
# More threads than cores: waiting workers sleep rather than spin, so 64 threads finish
# quickly on any machine (on 2 cores they once took 20 s to decode these 150 tokens) and
# still match 1 thread bit for bit.
for path in prefill decode; do
  flag=()
  [ "$path" = decode ] && flag=(--decode)
  if timeout 10 "$bin" logits --weights "$weights" --tokens "$tokens" --out "$tmp/$path-64.npy" \
      --threads 64 "${flag[@]}" && cmp -s "$tmp/$path-1.npy" "$tmp/$path-64.npy"; then
    pass "$path: 64 threads within 10 s, bit-identical to 1"
  else
    fail "$path: 64 threads slower than 10 s or different from 1"
  fi
done
# A thread the system refuses is one line and exit 1, not an abort: 64 stacks of 8 MiB do not
# fit a 300 MB address space (ASan's shadow memory needs far more: not under ASan).
if grep -qa __asan_init "$bin"; then
  echo "skip: thread-creation failure under ASan"
else
  expect_error "--threads 64 in 300 MB" 1 "cannot start thread" -- \
    bash -c 'ulimit -s 8192 && ulimit -v 300000 && exec "$@"' - "$bin" logits --weights "$weights" \
    --tokens 1,2,3 --out "$tmp/x.npy" --threads 64
fi

# The files compared are real logits, not two empty or equal-by-accident files.
if /usr/bin/python3 -c '
import sys, numpy as np
a = np.load(sys.argv[1]); b = np.load(sys.argv[2])
assert a.shape == (150, 1000) and np.isfinite(a).all() and a.std() > 0, a.shape
assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(a).max())), "prefill vs decode"
' "$tmp/prefill-1.npy" "$tmp/decode-2.npy"; then pass "logits are finite, varied, prefill ~ decode"
else fail "logits sanity"; fi

# Quantized weights (converted at load from the same checkpoint): the activations are quantized
# to int8 once per product, before the row split, so the threads see the same integers.
for dtype in q8_0 q4_0; do
  "$lmc" build "$spec" "${sets[@]}" --set "dtype=$dtype" -o "$bin-$dtype" --cache-dir "$cache" \
    >"$tmp/build-$dtype.log" 2>&1 || { cat "$tmp/build-$dtype.log"; fail "lmc build $dtype"; continue; }
  for t in 1 2 3; do
    "$bin-$dtype" logits --weights "$weights" --tokens "$tokens" --out "$tmp/$dtype-prefill-$t.npy" \
      --threads "$t" || fail "$dtype prefill, $t threads"
    "$bin-$dtype" logits --weights "$weights" --tokens "$tokens" --out "$tmp/$dtype-decode-$t.npy" \
      --threads "$t" --decode || fail "$dtype decode, $t threads"
  done
  for path in prefill decode; do
    for t in 2 3; do
      if cmp -s "$tmp/$dtype-$path-1.npy" "$tmp/$dtype-$path-$t.npy"; then
        pass "$dtype $path: $t threads bit-identical to 1"
      else
        fail "$dtype $path: $t threads differ from 1"
      fi
    done
  done
  if /usr/bin/python3 -c '
import sys, numpy as np
a = np.load(sys.argv[1]); b = np.load(sys.argv[2])
assert a.shape == (150, 1000) and np.isfinite(a).all() and a.std() > 0, a.shape
assert np.abs(a - b).max() <= 1e-4 * max(1.0, float(np.abs(a).max())), "prefill vs decode"
' "$tmp/$dtype-prefill-1.npy" "$tmp/$dtype-decode-2.npy"; then
    pass "$dtype logits are finite, varied, prefill ~ decode"
  else fail "$dtype logits sanity"; fi
done

# Loading converts f32 to q4_0 tensor by tensor and gives back each converted tensor's pages of
# the file: peak RSS stays far below the 98 MB checkpoint (it held all of it before the q4_0
# copies: 117 MB; now about 31 MB).
wide=(--set sizes.d_model=1024 --set attention.n_heads=8 --set attention.n_kv_heads=2
      --set feed_forward.hidden=2816 --set sizes.vocab=1000 --set dtype=q4_0)
"$lmc" build "$spec" "${wide[@]}" -o "$bin-wide" --cache-dir "$cache" >"$tmp/build-wide.log" 2>&1 &&
  "$lmc" random-weights "$spec" "${wide[@]}" -o "$tmp/wide.safetensors" --seed 5 ||
  fail "wide q4_0 model: $(cat "$tmp/build-wide.log")"
rss_kb=$(/usr/bin/python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
' "$bin-wide" logits --weights "$tmp/wide.safetensors" --tokens 1,2,3 --out "$tmp/wide.npy")
file_kb=$(( $(stat -c %s "$tmp/wide.safetensors") / 1024 ))
[ -n "$rss_kb" ] && [ "$rss_kb" -lt $((file_kb / 2)) ] &&
  pass "f32 -> q4_0 at load: peak RSS $rss_kb KB for a $file_kb KB checkpoint" ||
  fail "f32 -> q4_0 at load: peak RSS ${rss_kb:-?} KB, the checkpoint is $file_kb KB"
# On a terminal (script gives one), loading a checkpoint of 64 MiB or more draws a progress
# line on stderr, erased when loading ends; through a pipe, nothing.
script -qec "'$bin-wide' logits --weights '$tmp/wide.safetensors' --tokens 1,2,3 --out '$tmp/w2.npy'" \
  /dev/null >"$tmp/tty.txt" 2>&1
if grep -aq "loading $tmp/wide.safetensors .*100% (" "$tmp/tty.txt" && grep -aq $'\r\033\[K' "$tmp/tty.txt"; then
  pass "a progress line on a terminal, erased at the end"
else
  fail "no progress line on a terminal: $(tr '\r' '|' <"$tmp/tty.txt" | head -c 300)"
fi
"$bin-wide" logits --weights "$tmp/wide.safetensors" --tokens 1,2,3 --out "$tmp/w3.npy" 2>"$tmp/pipe.txt"
[ ! -s "$tmp/pipe.txt" ] && pass "no progress line through a pipe" ||
  fail "stderr through a pipe: $(head -c 200 "$tmp/pipe.txt")"
rm -f "$tmp/wide.safetensors"

json=$("$bin" bench --weights "$weights" --threads 2 -p 8 -n 4 --reps 1 --json) || fail "bench --json"
if /usr/bin/python3 -c '
import json, sys
j = json.loads(sys.argv[1])
keys = ["prefill_tok_s", "decode_tok_s", "threads", "weight_bytes_per_token", "read_gbs",
        "fma_gflops", "peak_rss_bytes", "decode_bandwidth_share", "prefill_fma_share"]
missing = [k for k in keys if k not in j]
assert not missing, missing
assert j["threads"] == 2 and j["prompt_tokens"] == 8 and j["decode_tokens"] == 4, j
assert all(j[k] > 0 for k in keys), j
# Every weight but 999 of the 1000 embedding rows, in f32.
d, h, v, kv = 256, 700, 1000, 64
per_layer = 2 * d + d * d + 2 * kv * d + d * d + 3 * h * d
want = 4 * (2 * per_layer + d + d + v * d)
assert j["weight_bytes_per_token"] == want, (j["weight_bytes_per_token"], want)
' "$json"; then pass "bench --json has its keys and the weight bytes: $json"
else fail "bench --json: $json"; fi
"$bin" bench --weights "$weights" -p 8 -n 4 --reps 1 >"$tmp/table" && grep -q "% of read bandwidth" "$tmp/table" &&
  pass "bench table" || fail "bench table: $(cat "$tmp/table")"

# --target: native is the best level the CPU and the binary share; avx2 runs every kernel at
# AVX2, or (a binary built for one higher level) is refused in one line.
case "$json" in *'"target": "avx2"'*|*'"target": "avx3"'*|*'"target": "avx3_dl"'*) pass "bench reports its target" ;;
  *) fail "bench --json has no x86 target: $json" ;; esac
if grep -q avx2 /proc/cpuinfo; then
  if out=$("$bin" bench --weights "$weights" -p 8 -n 4 --reps 1 --json --target avx2 2>"$tmp/err"); then
    case "$out" in *'"target": "avx2"'*) pass "bench --target avx2" ;; *) fail "--target avx2: $out" ;; esac
  else
    grep -q "compiled for .* only" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
      pass "--target avx2 refused by a one-level binary" || fail "--target avx2: $(cat "$tmp/err")"
  fi
fi
expect_error "bench --target unknown" 2 "expected avx2, avx3, avx3_dl or native" -- "$bin" bench \
  --weights "$weights" --target neon
expect_error "--threads 0" 2 "--threads expects an integer" -- "$bin" logits --threads 0 --weights "$weights" --tokens 1 --out "$tmp/x.npy"
expect_error "--threads without value" 2 "--threads expects a value" -- "$bin" logits --weights "$weights" --tokens 1 --out "$tmp/x.npy" --threads
expect_error "bench -p too long" 2 "do not fit max_seq_len" -- "$bin" bench --weights "$weights" -p 150 -n 20
finish
