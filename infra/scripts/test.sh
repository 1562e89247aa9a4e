#!/usr/bin/env bash
# The one test command (README, .ci/run): unit + integration tests against real Postgres and Redis.
# Prints vitest's own report, then a plain "N passed, N failed" line for runners that read only that; with
# MCPRT_EXTRA_RESULTS (a directory of `<passed> <failed> <label>` files, .ci/run's earlier runs) those count too.
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
    // Runs before this one that .ci/run counts in the same final line (MCPRT_EXTRA_RESULTS: files of `<passed> <failed> <label>`).
    const fs = require("fs"), dir = process.argv[2];
    // The first line of each is `<passed> <failed> <label>`; the lines after it name what failed.
    const extra = dir && fs.existsSync(dir) ? fs.readdirSync(dir).map((f) => fs.readFileSync(dir + "/" + f, "utf8").trim().split("\n")) : [];
    const counts = extra.map(([first]) => first.trim().split(/\s+/));
    extra.forEach(([, ...names], i) => {
      const [p, f, label] = counts[i];
      console.log(`${label}: ${p} passed, ${f} failed (counted below)`);
      for (const n of names.filter(Boolean)) console.log(`  ${label} failed: ${n}`);
    });
    // The failures of this run by name too, next to the final line (a CI log is read from its tail).
    for (const t of r.testResults || []) {
      const name = t.name.replace(process.cwd() + "/", "");
      const bad = (t.assertionResults || []).filter((a) => a.status === "failed");
      if (t.status === "failed" && !bad.length) console.log(`failed: ${name} (outside any test)`);
      for (const a of bad) console.log(`failed: ${name} > ${a.fullName}`);
    }
    const passed = r.numPassedTests + counts.reduce((n, e) => n + Number(e[0]), 0);
    const failed = r.numFailedTests + failedSuites + counts.reduce((n, e) => n + Number(e[1]), 0);
    console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
    if (r.numPassedTests === 0) { console.error("no test passed: treating as failure"); process.exit(1); }
    if (failed > 0) process.exit(1);
  ' "$out" "${MCPRT_EXTRA_RESULTS:-}" || code=1
else
  echo "0 passed, 1 failed"
  code=1
fi
exit $code
