#!/usr/bin/env bash
# `pnpm test:conformance`: the official MCP conformance suite (@modelcontextprotocol/conformance,
# pinned in test/package.json) against the test-only conformance tenant. Starts its own stack (a
# database cloned from TEST_DATABASE_URL, the dev IdP, the API and one worker), runs the claimed
# scenarios (test/conformance/scenarios.ts) and the authorization subcommand, stops the stack.
# Last line: conformance scenarios=<n> passed=<n> failed=<n> not_testable=<n>; exit 1 unless all passed.
# Extra arguments go to the runner: --all (also report the unclaimed scenarios), --only=<part of a name>.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/use-node.sh >/dev/null
bash infra/scripts/ensure-services.sh
export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/mcprt_test}
# The template the stack's database is cloned from: migrated (idempotent) as its owner, for the test app role.
TEST_APP_DATABASE_URL=${TEST_APP_DATABASE_URL:-$(node -e 'const u = new URL(process.argv[1]); u.username = "mcprt_test_app"; u.password = "test-only-app-password"; console.log(u.href)' "$TEST_DATABASE_URL")}
MIGRATE_DATABASE_URL=$TEST_DATABASE_URL DATABASE_URL=$TEST_APP_DATABASE_URL pnpm --silent migrate >/dev/null
cd test
exec node --import tsx conformance/run.ts "$@"
