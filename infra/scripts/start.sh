#!/usr/bin/env bash
# `pnpm start`: set up if needed, then run the development IdP, the API and one worker in the
# foreground (each as one node process, so signals reach it). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/use-node.sh # Node 22+ (fetched from the npm registry if this machine's is older) and pnpm
bash infra/scripts/setup.sh
set -a; . ./.env; set +a
if [ "${NODE_ENV:-development}" = production ]; then
  echo "pnpm start is the development quick start; in production run apps/api and apps/worker (see infra/)." >&2
  exit 1
fi

pids=()
cleanup() { trap - INT TERM EXIT; for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait || true; }
trap cleanup INT TERM EXIT

IDP_PORT=${DEV_IDP_PORT:-4000}
IDP="http://127.0.0.1:$IDP_PORT"
# The dev IdP's login page signs users in for the dev tenant's built-in authorization server (and, with
# ENABLE_TEST_TOOLS, for the conformance tenant's: `pnpm cli dev conformance`).
LOGIN_REDIRECTS=(--login-redirect "$PUBLIC_URL/t/dev/login/callback")
if [ "${ENABLE_TEST_TOOLS:-false}" = true ]; then
  LOGIN_REDIRECTS+=(--login-redirect "$PUBLIC_URL/t/conformance/login/callback")
  # The conformance suite's progress scenario counts 3 notifications during a 1.5 s call, and its
  # tasks scenarios expect a 1 s slow_compute to become a task whatever the load.
  export PROGRESS_INTERVAL_MS=${PROGRESS_INTERVAL_MS:-250} TASK_WAIT_MS=${TASK_WAIT_MS:-300}
fi
node --import tsx packages/dev-idp/src/serve.ts --port "$IDP_PORT" "${LOGIN_REDIRECTS[@]}" & pids+=($!)
for _ in $(seq 1 60); do curl -fsS "$IDP/.well-known/openid-configuration" >/dev/null 2>&1 && break; sleep 0.5; done

node --import tsx apps/cli/src/main.ts dev seed --idp "$IDP" --slug dev --auth builtin
# Test deployments: the conformance suite's tenant (its fixture tools); `pnpm cli dev conformance` prints its URL and a token.
[ "${ENABLE_TEST_TOOLS:-false}" = true ] && node --import tsx apps/cli/src/main.ts dev conformance --idp "$IDP" >/dev/null
# web_search without an operator key: a local Scavio double (test/doubles/scavio.ts; canned results
# from results.example.test, clearly not real ones) for this run's worker only. With SCAVIO_API_KEY
# in .env the worker calls the real API.
if [ -z "${SCAVIO_API_KEY:-}" ]; then
  SCAVIO_PORT=${DEV_SCAVIO_PORT:-4100}
  export SCAVIO_API_KEY="dev-scavio-double-$(node -e 'console.log(require("node:crypto").randomBytes(9).toString("base64url"))')"
  export SCAVIO_BASE_URL="http://127.0.0.1:$SCAVIO_PORT" SCAVIO_API_STYLE=v2
  node --import tsx test/doubles/scavio-serve.ts --port "$SCAVIO_PORT" --key "$SCAVIO_API_KEY" >/dev/null & pids+=($!)
  SEARCH_NOTE="web_search: a local Scavio double on :$SCAVIO_PORT (canned results; put SCAVIO_API_KEY in .env for the real API)"
else
  SEARCH_NOTE="web_search: the Scavio API (SCAVIO_API_KEY from .env)"
fi
node --experimental-async-context-frame --import tsx apps/api/src/main.ts & pids+=($!)
node --experimental-async-context-frame --import tsx apps/worker/src/main.ts & pids+=($!)
for _ in $(seq 1 60); do curl -fsS "$PUBLIC_URL/readyz" >/dev/null 2>&1 && break; sleep 0.5; done

bash infra/scripts/banner.sh "$PUBLIC_URL" "$IDP" "$SEARCH_NOTE"
wait -n "${pids[@]}"
