#!/usr/bin/env bash
# A/B of `pnpm bench` against another commit, alternating in the same minutes (this machine's speed
# drifts): `bash test/bench/ab.sh <rev> [rounds]`. Each round runs the base, then this checkout in
# 2026-07-28, then this checkout in 2025-11-25; compare the medians of `ratio=`.
set -euo pipefail
rev=${1:?usage: test/bench/ab.sh <rev> [rounds]}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
base=$(mktemp -d /tmp/mcprt-ab-XXXXXX)
trap 'git -C "$root" worktree remove --force "$base" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add -q --detach "$base" "$rev"
(cd "$base" && pnpm install --frozen-lockfile >/dev/null)
for i in $(seq 1 "$rounds"); do
  (cd "$base" && BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mcprt_bench_ab pnpm bench 2>&1 | tail -1 | sed "s/^/base   $rev /")
  (cd "$root" && BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mcprt_bench_ab pnpm bench 2>&1 | tail -1 | sed 's/^/head   2026-07-28 /')
  (cd "$root" && BENCH_PROTOCOL=2025-11-25 BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mcprt_bench_ab pnpm bench 2>&1 | tail -1 | sed 's/^/head   2025-11-25 /')
done
