#!/usr/bin/env bash
# A/B of the latency mode (`pnpm bench:latency`) against other commits, alternating in the same
# minutes: `bash test/bench/ab-latency.sh <rev>[,<rev>…] [rounds]`. Each round runs each base, then
# this checkout. Compare medians over rounds, and e2e minus the peer of the same run (this machine's
# speed drifts by more than the differences looked for). Each run also prints its CPU per call per tier.
#   AB_CALLS    capacity phase calls (BENCH_CALLS, default 4000)
#   AB_SAMPLES  calls with one in flight (BENCH_LATENCY_SAMPLES, default 2000)
#   AB_OPEN_S   open-loop seconds (BENCH_OPEN_LOOP_S, default 5)
set -euo pipefail
revs=${1:?usage: test/bench/ab-latency.sh <rev>[,<rev>…] [rounds]}
rounds=${2:-2}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
run() {
  (cd "$1" && source infra/scripts/use-node.sh >/dev/null 2>&1 &&
    BENCH_CALLS=${AB_CALLS:-4000} BENCH_LATENCY_SAMPLES=${AB_SAMPLES:-2000} BENCH_OPEN_LOOP_S=${AB_OPEN_S:-5} BENCH_MODE=latency pnpm bench 2>&1 |
    grep -E '^latency_|^capacity|CPU per call' | sed "s/^/$2 round $3 load=$(cut -d' ' -f1 /proc/loadavg) /")
}
for rev in ${revs//,/ }; do
  wt="${TMPDIR:-/tmp}/mcprt-ab-latency-$rev"
  if [ ! -d "$wt" ]; then
    git -C "$root" worktree add -q --detach "$wt" "$rev"
    [ -d "$root/.tools" ] && cp -r "$root/.tools" "$wt/"
    (cd "$wt" && source infra/scripts/use-node.sh >/dev/null 2>&1 && pnpm install --frozen-lockfile --prefer-offline >/dev/null)
  fi
done
for i in $(seq 1 "$rounds"); do
  for rev in ${revs//,/ }; do run "${TMPDIR:-/tmp}/mcprt-ab-latency-$rev" "base $rev" "$i"; done
  run "$root" head "$i"
done
