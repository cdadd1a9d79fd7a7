#!/usr/bin/env bash
# coverage.sh - line coverage of the parsers by the saved fuzz corpus (make fuzz-coverage):
# builds the replay binaries (tests/fuzz/replay.c) with clang's source-based coverage into
# $COV_BUILD (default build/cov), replays each target's corpus once, merges the profiles and
# prints llvm-cov's report for the files that parse what the network or the operator sends.
#
# Environment: COV_BUILD; CORPUS (default tests/fuzz/corpus; a directory with one
# sub-directory per target, e.g. build/fuzz/corpus after long runs); LLVM_COV and
# LLVM_PROFDATA (default llvm-cov, llvm-profdata: the versions matching clang).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
build=${COV_BUILD:-build/cov}
corpus=${CORPUS:-tests/fuzz/corpus}
llvm_cov=${LLVM_COV:-llvm-cov}
llvm_profdata=${LLVM_PROFDATA:-llvm-profdata}
# The parsers and the code that acts on what they parse.
files=(common/http.c common/flags.c common/webconfig.c common/announce.c common/basic_auth.c
    client/work.c client/target.c client/push.c client/client.c
    proxy/conn.c proxy/scrape.c proxy/push.c proxy/poll.c proxy/fqdn.c proxy/scrape_slot.c
    proxy/registry.c proxy/clients.c bench/sd_json.c)

targets=()
for f in tests/fuzz/fuzz_*.c; do
    n=${f##*/fuzz_}
    targets+=("$build/tests/fuzz/replay_${n%.c}")
done
make --no-print-directory -j2 BUILD="$build" CC=clang \
    SANFLAGS="-fprofile-instr-generate -fcoverage-mapping" "${targets[@]}"

prof="$build/prof"
rm -rf "$prof"
mkdir -p "$prof"
bins=()
for bin in "$build"/tests/fuzz/replay_*; do
    name=${bin##*/replay_}
    [ -d "$corpus/$name" ] || continue
    LLVM_PROFILE_FILE="$prof/$name-%p.profraw" "$bin" "$corpus/$name" >/dev/null
    echo "$name: $(find "$corpus/$name" -type f | wc -l) inputs replayed"
    bins+=("$bin")
done
[ "${#bins[@]}" -gt 0 ] || { echo "no corpus under $corpus"; exit 1; }
"$llvm_profdata" merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
objects=()
for b in "${bins[@]:1}"; do objects+=(-object "$b"); done
"$llvm_cov" report "${bins[0]}" "${objects[@]}" -instr-profile="$prof/all.profdata" \
    -show-region-summary=false -show-branch-summary=false "${files[@]}"
