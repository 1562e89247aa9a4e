#!/usr/bin/env bash
# One-time (idempotent) local setup: dependencies, a development .env with fresh sealing keys and a
# fresh app-role password, database created and migrated (as the owner role, which also creates the
# app role the processes connect as). Postgres and Redis must answer at their default local addresses.
set -euo pipefail
cd "$(dirname "$0")/../.."
source infra/scripts/use-node.sh # Node 22+ (fetched from the npm registry if this machine's is older) and pnpm

if [ ! -d node_modules ] || [ pnpm-lock.yaml -nt node_modules/.modules.yaml ]; then
  echo "› installing dependencies (pnpm install --frozen-lockfile)"
  pnpm install --frozen-lockfile
fi

random() { node -e 'console.log(require("node:crypto").randomBytes(24).toString("base64url"))'; }
if [ ! -f .env ]; then
  key=$(node -e 'console.log(require("node:crypto").randomBytes(32).toString("base64url"))')
  kid="k$(date -u +%Y%m%d%H%M)"
  cat > .env <<ENV
# Development settings written by infra/scripts/setup.sh. Never use these in production.
NODE_ENV=development
LOG_LEVEL=info
PORT=3000
PUBLIC_URL=http://127.0.0.1:3000
# The app role the API, workers and CLI connect as: LOGIN, no DDL, audit_events append-only.
# \`pnpm migrate\` creates it with this user and password.
DATABASE_URL=postgres://mcprt_app:$(random)@127.0.0.1:5432/mcprt
# The owner role: migrations (\`pnpm migrate\`; in development the processes also migrate at start).
MIGRATE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/mcprt
REDIS_URL=redis://127.0.0.1:6379
# Keyring for sealed tokens (kid:base64url 32 bytes, comma-separated; the last one seals).
SEAL_KEYS=${kid}:${key}
# The development IdP runs on http://127.0.0.1:4000.
ALLOW_INSECURE_ISSUERS=true
DEV_IDP_PORT=4000
# SCAVIO_API_KEY=sk_live_…   (web_search answers "unavailable" without it)
ENV
  echo "› wrote .env with a fresh sealing key ($kid)"
elif ! grep -q '^MIGRATE_DATABASE_URL=' .env; then
  # A .env from before the app role: its DATABASE_URL (the superuser) becomes the owner's URL, and
  # DATABASE_URL the app role on the same database.
  old=$(sed -n 's/^DATABASE_URL=//p' .env | tail -1)
  old=${old:-postgres://postgres@127.0.0.1:5432/mcprt}
  app=$(node -e 'const u = new URL(process.argv[1]); u.username = "mcprt_app"; u.password = process.argv[2]; console.log(u.toString())' "$old" "$(random)")
  sed -i '/^DATABASE_URL=/d' .env
  printf '%s\n' '# The app role (LOGIN, no DDL); the owner role migrates (added by infra/scripts/setup.sh).' \
    "DATABASE_URL=$app" "MIGRATE_DATABASE_URL=$old" >> .env
  echo "› .env: DATABASE_URL is now the app role mcprt_app; the previous URL is MIGRATE_DATABASE_URL (the owner)"
fi

set -a; . ./.env; set +a
if ! bash infra/scripts/ensure-services.sh; then
  echo
  echo "Start the missing service(s) and run this again. With Docker: docker compose up -d postgres redis" >&2
  exit 1
fi
# (Never echo the URLs: they carry the passwords.)
echo "› migrating (as the owner role in MIGRATE_DATABASE_URL)"
pnpm --silent --filter @mcprt/db migrate
