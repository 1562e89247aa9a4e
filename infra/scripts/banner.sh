#!/usr/bin/env bash
# The message `pnpm start` prints once everything is up: banner.sh <public url> <dev IdP url> <search note>.
# Its commands are typed in another terminal, where pnpm may not be installed (the quick start needs
# only Node): each is printed in the `npx --yes pnpm@12.4.2 …` form, which works with or without a
# global pnpm. test/src/start-banner.test.ts runs them with a PATH that has no pnpm.
set -euo pipefail
PUBLIC_URL=$1 IDP=$2 SEARCH_NOTE=$3
P="npx --yes pnpm@12.4.2"
cat <<MSG

  ──────────────────────────────────────────────────────────────────────────
  mcprt is running.   API $PUBLIC_URL   dev IdP $IDP
  Tenant "dev" MCP URL: $PUBLIC_URL/t/dev/mcp
  $SEARCH_NOTE

  Point any OAuth-capable MCP client at that URL: it discovers the tenant's
  authorization server, you sign in as alice or bob at the dev IdP and allow it.
  From a terminal, the same sign-in (prints a URL to open):
      $P cli mcp call --url $PUBLIC_URL/t/dev/mcp --login --user alice --tool whoami
  Watch alice and bob sign in in a headless browser:
      $P demo
  Or a development token (see docs/getting-started.md "Call whoami"):
      TOKEN=\$($P --silent cli dev token --tenant dev --user alice)
  (With pnpm 12.4.2 installed, \`pnpm …\` is the same.)
  Ctrl-C stops everything.
  ──────────────────────────────────────────────────────────────────────────

MSG
