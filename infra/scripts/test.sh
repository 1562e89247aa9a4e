#!/usr/bin/env bash
# The one test command (README, .ci/run): unit + integration tests against real Postgres and Redis.
# Prints vitest's own report, then a plain "N passed, N failed" line for runners that read only that.
set -uo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/use-node.sh || exit 1 # Node 22+ (from the npm registry if this machine's is older) and pnpm
bash infra/scripts/ensure-services.sh || exit 1
out=.vitest-results.json
rm -f "$out"
npx vitest run --reporter=default --reporter=json --outputFile="$out" "$@"
code=$?
if [ -s "$out" ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    // A file that failed outside any test (a hook, an import) and so reported no failed test counts once.
    const failedSuites = (r.testResults || []).filter((t) => t.status === "failed" && !(t.assertionResults || []).some((a) => a.status === "failed")).length;
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + failedSuites} failed` + (skipped ? `, ${skipped} skipped` : ""));
    if (r.numPassedTests === 0) { console.error("no test passed: treating as failure"); process.exit(1); }
  ' "$out" || code=1
else
  echo "0 passed, 1 failed"
  code=1
fi
exit $code
