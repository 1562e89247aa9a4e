#!/usr/bin/env bash
# A/B of `pnpm bench` against other commits, alternating in the same minutes (this machine's speed
# drifts): `bash test/bench/ab.sh <rev>[,<rev>…] [rounds]`. Each round runs each base, then this
# checkout once per (auth mode, protocol); compare the medians of `ratio=` (and of the CPU and
# syscalls per call lines, steadier on a shared machine).
#   AB_HEAD_AUTH       this checkout's BENCH_AUTH modes, each run every round (default: builtin; e.g.
#                      "builtin external"). Bases run as they are (commits before the built-in authorization server: external tokens).
#   AB_HEAD_PROTOCOLS  this checkout's BENCH_PROTOCOL values (default: "2026-07-28 2025-11-25")
#   AB_HEAD_OTEL       this checkout's BENCH_OTEL values, each run every round (default: off; "off on"
#                      also measures tracing on)
set -euo pipefail
revs=${1:?usage: test/bench/ab.sh <rev>[,<rev>…] [rounds]}
rounds=${2:-3}
head_auth=${AB_HEAD_AUTH:-builtin}
head_protocols=${AB_HEAD_PROTOCOLS:-2026-07-28 2025-11-25}
head_otel=${AB_HEAD_OTEL:-off}
# Its own database (dropped and re-created per run); BENCH_DATABASE_URL overrides, e.g. one per engineer.
db=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mcprt_bench_ab}
root=$(cd "$(dirname "$0")/../.." && pwd)
bases=()
cleanup() {
  for b in "${bases[@]}"; do git -C "$root" worktree remove --force "$b" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
IFS=, read -r -a rev_list <<<"$revs"
for rev in "${rev_list[@]}"; do
  base=$(mktemp -d /tmp/mcprt-ab-XXXXXX)
  bases+=("$base")
  git -C "$root" worktree add -q --detach "$base" "$rev"
  (cd "$base" && pnpm install --frozen-lockfile >/dev/null)
done
pick='^e2e_calls|CPU per call|syscalls per call|^memory |^latency_'
for i in $(seq 1 "$rounds"); do
  for k in "${!rev_list[@]}"; do
    rev=${rev_list[$k]}
    (cd "${bases[$k]}" && BENCH_DATABASE_URL=$db pnpm bench 2>&1 | grep -E "$pick" | sed "s/^/base   $rev /")
  done
  for auth in $head_auth; do
    for protocol in $head_protocols; do
      for otel in $head_otel; do
        (cd "$root" && BENCH_OTEL=$otel BENCH_AUTH=$auth BENCH_PROTOCOL=$protocol BENCH_DATABASE_URL=$db pnpm bench 2>&1 | grep -E "$pick|otel sink" | sed "s/^/head   $auth $protocol otel=$otel /")
      done
    done
  done
done
