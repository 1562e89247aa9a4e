#!/usr/bin/env bash
# The runtime on a Redis Cluster (3 primaries, infra/scripts/redis-cluster.sh): the end-to-end call tests
# (submit → worker → result, cancel, rate limits and leases, refresh single flight, forged jobs)
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
  test/src/whoami.test.ts
)
export REDIS_CLUSTER_PORT=${REDIS_CLUSTER_PORT:-7101}
url=$(bash infra/scripts/redis-cluster.sh start) || { echo "redis-cluster: 0 passed, 1 failed (the cluster did not start)"; exit 1; }
echo "› Redis Cluster up: $url"
log=$(mktemp)
TEST_REDIS_CLUSTER=true TEST_REDIS_URL=$url MCPRT_EXTRA_RESULTS='' bash infra/scripts/test.sh "${FILES[@]}" 2>&1 | tee "$log"
read -r tp tf < <(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1 | sed -E 's/^([0-9]+) passed, ([0-9]+) failed.*/\1 \2/') || true
tp=${tp:-0}; tf=${tf:-1}
# The names of what failed, for the final report (CI shows its tail): vitest's JSON report of this run.
failed_names=$(node -e '
  const r = JSON.parse(require("fs").readFileSync(".vitest-results.json", "utf8"));
  for (const f of r.testResults || []) {
    const bad = (f.assertionResults || []).filter((a) => a.status === "failed");
    if (f.status === "failed" && !bad.length) console.log(f.name.replace(process.cwd() + "/", "") + " (outside any test)");
    for (const a of bad) console.log(f.name.replace(process.cwd() + "/", "") + " > " + a.fullName);
  }' 2>/dev/null || true)
bash infra/scripts/redis-cluster.sh stop
echo "› fault suite, Redis scenarios on a private Redis Cluster"
pnpm --silent test:faults --redis-cluster 2>&1 | tee "$log"
fcode=${PIPESTATUS[0]}
fp=$(grep -c '\] PASS ' "$log"); ff=$(grep -c '\] FAIL ' "$log")
failed_names+=$'\n'$(grep '\] FAIL ' "$log" | sed -E 's/^.*\] FAIL /fault scenario /' | cut -c1-300)
[ "$fcode" != 0 ] && [ "$ff" = 0 ] && ff=1 && failed_names+=$'\n'"fault suite exited $fcode: $(tail -3 "$log" | tr '\n' ' ' | cut -c1-300)" # the suite itself failed (start-up, a crash)
rm -f "$log"
passed=$((tp + fp)); failed=$((tf + ff))
echo "redis-cluster: $passed passed, $failed failed (call tests $tp/$((tp + tf)), fault scenarios $fp/$((fp + ff)))"
failed_names=$(printf '%s\n' "$failed_names" | sed '/^$/d')
[ -n "$failed_names" ] && printf 'redis-cluster failed: %s\n' "$failed_names"
# The final report repeats the names (the 4th line on of the file), so a CI log's tail says what failed.
[ -n "${MCPRT_EXTRA_RESULTS:-}" ] && [ -d "$MCPRT_EXTRA_RESULTS" ] &&
  printf '%s %s redis-cluster\n%s\n' "$passed" "$failed" "$failed_names" >"$MCPRT_EXTRA_RESULTS/redis-cluster"
[ "$failed" = 0 ]
