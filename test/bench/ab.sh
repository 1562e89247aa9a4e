#!/usr/bin/env bash
# A/B of `pnpm bench` against another commit, alternating in the same minutes (this machine's speed
# drifts): `bash test/bench/ab.sh <rev> [rounds]`. Each round runs the base, then this checkout in
# 2026-07-28, then this checkout in 2025-11-25; compare the medians of `ratio=` (and of the CPU and
# syscalls per call lines, steadier on a shared machine).
set -euo pipefail
rev=${1:?usage: test/bench/ab.sh <rev> [rounds]}
rounds=${2:-3}
# Its own database (dropped and re-created per run); BENCH_DATABASE_URL overrides, e.g. one per engineer.
db=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mcprt_bench_ab}
root=$(cd "$(dirname "$0")/../.." && pwd)
base=$(mktemp -d /tmp/mcprt-ab-XXXXXX)
trap 'git -C "$root" worktree remove --force "$base" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add -q --detach "$base" "$rev"
(cd "$base" && pnpm install --frozen-lockfile >/dev/null)
for i in $(seq 1 "$rounds"); do
  (cd "$base" && BENCH_DATABASE_URL=$db pnpm bench 2>&1 | grep -E '^e2e_calls|CPU per call|syscalls per call' | sed "s/^/base   $rev /")
  (cd "$root" && BENCH_DATABASE_URL=$db pnpm bench 2>&1 | grep -E '^e2e_calls|CPU per call|syscalls per call' | sed 's/^/head   2026-07-28 /')
  (cd "$root" && BENCH_PROTOCOL=2025-11-25 BENCH_DATABASE_URL=$db pnpm bench 2>&1 | grep -E '^e2e_calls|CPU per call|syscalls per call' | sed 's/^/head   2025-11-25 /')
done
