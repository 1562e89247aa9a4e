#!/usr/bin/env bash
# The runtime on a Redis Cluster (3 primaries, infra/scripts/redis-cluster.sh): the end-to-end call tests
# (submit → worker → result, cancel, rate limits and leases, refresh single flight, forged and poison jobs)
# with TEST_REDIS_CLUSTER=true, then the fault suite's Redis scenarios against a private cluster of its own
# (`pnpm test:faults --redis-cluster`). Prints `redis-cluster: N passed, N failed` (test cases + fault
# scenarios) and, when MCPRT_EXTRA_RESULTS names a directory, writes `N N redis-cluster` there for the final
# line of infra/scripts/test.sh. Exit code non-zero if anything failed. About 4–6 minutes on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/use-node.sh >/dev/null || exit 1
FILES=(
  test/src/call-path.test.ts
  test/src/cancel-channel.test.ts
  test/src/tasks.test.ts
  test/src/rate-limits.test.ts
  test/src/user-concurrency.test.ts
  test/src/upstream-429.test.ts
  test/src/token-refresh.test.ts
  test/src/upstream-refresh.test.ts
  test/src/worker-guards.test.ts
  test/src/stale-runs.test.ts
  test/src/whoami.test.ts
)
export REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7101}
url=$(bash infra/scripts/redis-cluster.sh start) || { echo "redis-cluster: 0 passed, 1 failed (the cluster did not start)"; exit 1; }
echo "› Redis Cluster up: $url"
log=$(mktemp)
TEST_REDIS_CLUSTER=true TEST_REDIS_URL=$url MCPRT_EXTRA_RESULTS='' bash infra/scripts/test.sh "${FILES[@]}" 2>&1 | tee "$log"
read -r tp tf < <(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/') || true
tp=${tp:-0}; tf=${tf:-1}
bash infra/scripts/redis-cluster.sh stop
echo "› fault suite, Redis scenarios on a private Redis Cluster"
pnpm --silent test:faults --redis-cluster 2>&1 | tee "$log"
fcode=${PIPESTATUS[0]}
fp=$(grep -c '\] PASS ' "$log"); ff=$(grep -c '\] FAIL ' "$log")
[ "$fcode" != 0 ] && [ "$ff" = 0 ] && ff=1 # the suite itself failed (start-up, a crash)
rm -f "$log"
passed=$((tp + fp)); failed=$((tf + ff))
echo "redis-cluster: $passed passed, $failed failed (call tests $tp/$((tp + tf)), fault scenarios $fp/$((fp + ff)))"
[ -n "${MCPRT_EXTRA_RESULTS:-}" ] && [ -d "$MCPRT_EXTRA_RESULTS" ] && echo "$passed $failed redis-cluster" >"$MCPRT_EXTRA_RESULTS/redis-cluster"
[ "$failed" = 0 ]
