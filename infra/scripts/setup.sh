#!/usr/bin/env bash
# One-time (idempotent) local setup: dependencies, a development .env with fresh sealing keys,
# database created and migrated. Postgres and Redis must answer at their default local addresses.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/use-node.sh # Node 22+ (fetched from the npm registry if this machine's is older) and pnpm

if [ ! -d node_modules ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "› installing dependencies (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile
fi

if [ ! -f .env ]; then
  key=$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("base64url"))')
  kid="k$(date -u +%Y%m%d%H%M)"
  cat > .env <<ENV
# Development settings written by infra/scripts/setup.sh. Never use these in production.
NODE_ENV=development
LOG_LEVEL=info
PORT=3000
PUBLIC_URL=http://127.0.0.1:3000
DATABASE_URL=postgres://postgres@127.0.0.1:5432/mcprt
REDIS_URL=redis://127.0.0.1:6379
# Keyring for sealed tokens (kid:base64url 32 bytes, comma-separated; the last one seals).
SEAL_KEYS=${kid}:${key}
# The development IdP runs on http://127.0.0.1:4000.
ALLOW_INSECURE_ISSUERS=true
DEV_IDP_PORT=4000
# SCAVIO_API_KEY=sk_live_…   (web_search answers "unavailable" without it)
ENV
  echo "› wrote .env with a fresh sealing key ($kid)"
fi

set -a; . ./.env; set +a
if ! bash infra/scripts/ensure-services.sh; then
  echo
  echo "Start the missing service(s) and run this again. With Docker: docker compose up -d postgres redis" >&2
  exit 1
fi
# Never print a password from the URL (issue 7 item 8).
echo "› migrating $(sed -E 's#(://[^:/@]*:)[^@/]*@#\1[REDACTED]@#' <<<"$DATABASE_URL")"
DATABASE_URL=$DATABASE_URL pnpm --silent --filter @mcprt/db migrate
