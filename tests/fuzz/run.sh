#!/usr/bin/env bash
# Builds the request-parsing fuzzer with clang++ (libFuzzer + ASan + UBSan)
# straight from the domain/ sources, then fuzzes a copy of the seed corpus
# for a bounded time. Exits non-zero on any crash, leak, sanitizer report,
# broken promise or timeout; the input that caused it is left in
# <work dir>/crash-* (or leak-*, timeout-*) and printed.
#   tests/fuzz/run.sh [work dir] [seconds]     defaults: build-fuzz, 60
# Replay one input: <work dir>/request_fuzzer <file>
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mkdir -p "${1:-$src/build-fuzz}" && cd "${1:-$src/build-fuzz}" && pwd)"
seconds="${2:-60}"
cxx="${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$cxx" ] || { echo "fuzz: clang++ not found (scripts/setup installs it)" >&2; exit 1; }

flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer
       -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
       -I"$src")

# Compile each source into its own object, in parallel, only when the
# source or any domain header changed.
mkdir -p "$work/obj"
sources=("$src"/domain/*.cpp "$src"/tests/fuzz/*.cpp)
newest_header=$(ls -t "$src"/domain/*.hpp | head -1)
stale=()
for s in "${sources[@]}"; do
  o="$work/obj/$(basename "${s%.cpp}").o"
  if [ ! -e "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_header" -nt "$o" ]; then
    stale+=("$s")
  fi
done
if [ ${#stale[@]} -gt 0 ]; then
  printf '%s\n' "${stale[@]}" | xargs -P "$(nproc)" -I{} sh -c \
    '"$0" "$@" -c {} -o "'"$work"'/obj/$(basename {} .cpp).o"' "$cxx" "${flags[@]}"
fi
"$cxx" -fsanitize=fuzzer,address,undefined "$work"/obj/*.o -o "$work/request_fuzzer"

# Fuzz a fresh copy: new inputs go there, the seeds in the tree stay as
# they are (add an interesting one by hand, with a name that says why).
rm -rf "$work/corpus" && cp -r "$src/tests/fuzz/corpus" "$work/corpus"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
# A small stack (512 KiB for the fuzzed thread) makes unbounded recursion
# show up with inputs of a few KiB, not only with multi-MiB bodies.
ulimit -s 512
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1
status=0
"$work/request_fuzzer" -max_total_time="$seconds" -timeout=10 \
  -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
  -dict="$src/tests/fuzz/request.dict" \
  -artifact_prefix="$work/" "$work/corpus" 2>"$work/fuzz.log" || status=$?
grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
  "$work/fuzz.log" || true
if [ $status -ne 0 ]; then
  tail -60 "$work/fuzz.log" >&2
  ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null >&2 || true
  exit $status
fi
