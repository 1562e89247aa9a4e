import { tenantCreate } from '../commands/tenant-create.js';
import { tenantList } from '../commands/tenant-list.js';
import { tenantMcpConfig } from '../commands/tenant-mcp-config.js';
import { tenantRetention } from '../commands/tenant-retention.js';
import { tenantSetIdp } from '../commands/tenant-set-idp.js';
import { tenantSetScavioKey } from '../commands/tenant-set-scavio-key.js';
import { tenantSetToolListing } from '../commands/tenant-set-tool-listing.js';
import { tenantSetApprovals } from '../commands/tenant-set-approvals.js';
import { tenantSetUpstream } from '../commands/tenant-set-upstream.js';
import { str, type CommandGroup, type Values } from '../command.js';
import { tenantApiKeyCommands } from './tenant-api-key.js';

/** The options `tenant set-idp` and `tenant set-upstream` share: which client, of which kind, where, asking for what. */
const providerOptions = {
  slug: { type: 'string' },
  'client-id': { type: 'string' },
  scopes: { type: 'string' },
  kind: { type: 'string' },
  issuer: { type: 'string' },
  'api-base': { type: 'string' },
} as const;
const providerArgs = (v: Values) => ({
  slug: str(v, 'slug'),
  clientId: str(v, 'client-id'),
  scopes: str(v, 'scopes'),
  kind: str(v, 'kind'),
  issuer: str(v, 'issuer'),
  apiBase: str(v, 'api-base'),
});

/** `tenant …`: create and configure tenants (sign-in, upstream providers, keys, retention). */
export const tenantCommands: CommandGroup = {
  'tenant create': {
    usage: 'tenant create --slug <slug> --issuer <url> [--name <name>] [--tools whoami,web_search] [--auth builtin|external]',
    summary: 'create a tenant; prints its MCP URL and a .mcp.json',
    details: [
      '--slug     a-z 0-9 -, 1-63 characters',
      "--issuer   the tenant IdP issuer URL (external: must equal the tokens' iss)",
      '--name     display name (default: the slug)',
      '--tools    comma-separated (default whoami,web_search)',
      '--auth     builtin (default): the tenant is its own OAuth server, users sign in at the IdP (then `tenant set-idp`);',
      '           external: the IdP issues the MCP tokens itself',
    ],
    options: { slug: { type: 'string' }, name: { type: 'string' }, issuer: { type: 'string' }, tools: { type: 'string' }, auth: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await tenantCreate(res, { slug: str(v, 'slug'), name: str(v, 'name'), issuer: str(v, 'issuer'), tools: str(v, 'tools'), auth: str(v, 'auth') }),
          0
        ),
      ),
  },
  'tenant list': {
    usage: 'tenant list',
    summary: 'one line per tenant: slug, issuer, tools, MCP URL',
    details: [],
    options: {},
    run: ({ withDb }) => withDb(async (res) => (await tenantList(res), 0)),
  },
  'tenant set-idp': {
    usage:
      'tenant set-idp --slug <slug> --client-id <id> [--kind oidc|google|github] [--issuer <url>] [--api-base <url>] [--scopes "openid email profile"] [--auth builtin|external]',
    summary: 'the IdP a built-in tenant signs users in with (secret from IDP_CLIENT_SECRET, stored sealed)',
    details: [
      '--client-id  the client registered at the tenant IdP (redirect URIs: {PUBLIC_URL}/t/{slug}/login/callback and …/connect/idp/callback)',
      '--kind       oidc (any issuer, discovery), google (OIDC, offline access), github (OAuth 2, identity from GET /user); default unchanged',
      "--issuer     the OIDC issuer, or GitHub's web base (defaults: google https://accounts.google.com, github https://github.com)",
      '--api-base   github only: the REST API base (default https://api.github.com)',
      '--scopes     upstream scopes to ask for (oidc/google: must include openid; default unchanged)',
      '--auth       builtin: the tenant becomes its own OAuth authorization server; external: trust the IdP tokens',
      'The secret comes from the environment: IDP_CLIENT_SECRET=… pnpm cli tenant set-idp …',
    ],
    options: { ...providerOptions, auth: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await tenantSetIdp(res, { ...providerArgs(v), clientSecret: process.env.IDP_CLIENT_SECRET, auth: str(v, 'auth') }), 0)),
  },
  'tenant set-upstream': {
    usage:
      'tenant set-upstream --slug <slug> --provider github|google|<name> --client-id <id> [--kind oidc|google|github] [--issuer <url>] [--api-base <url>] [--scopes "…"]',
    summary: 'a provider signed-in users can connect for tools that need it (secret from UPSTREAM_CLIENT_SECRET, stored sealed)',
    details: [
      '--provider   the name in connect links (/t/{slug}/connect/{provider}) and in credentials',
      '--kind       defaults to the provider name for github and google',
      '--scopes     scopes always asked for (tools add theirs through the connect link)',
      'Redirect URI to register at the provider: {PUBLIC_URL}/t/{slug}/connect/{provider}/callback',
    ],
    options: { ...providerOptions, provider: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await tenantSetUpstream(res, { ...providerArgs(v), provider: str(v, 'provider'), clientSecret: process.env.UPSTREAM_CLIENT_SECRET }),
          0
        ),
      ),
  },
  'tenant set-scavio-key': {
    usage: 'tenant set-scavio-key --slug <slug> [--clear]',
    summary: "the tenant's own Scavio key for web_search (from TENANT_SCAVIO_API_KEY, stored sealed); --clear: the operator's key again",
    details: ['The key comes from the environment: TENANT_SCAVIO_API_KEY=… pnpm cli tenant set-scavio-key --slug acme'],
    options: { slug: { type: 'string' }, clear: { type: 'boolean' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await tenantSetScavioKey(res, { slug: str(v, 'slug'), apiKey: process.env.TENANT_SCAVIO_API_KEY, clear: v.clear === true }), 0)),
  },
  'tenant set-tool-listing': {
    usage: 'tenant set-tool-listing --slug <slug> --mode allowed|all_with_hints',
    summary: 'what tools/list shows a caller: only the tools its token may call (default), or all, locked ones with a hint',
    details: ['all_with_hints: a tool the token lacks the scope for is listed with _meta "io.mcprt/locked" naming that scope'],
    options: { slug: { type: 'string' }, mode: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await tenantSetToolListing(res, { slug: str(v, 'slug'), mode: str(v, 'mode') }), 0)),
  },
  'tenant set-approvals': {
    usage: 'tenant set-approvals --slug <slug> (--rules <json> | --clear)',
    summary: 'calls that wait for approval before they run: by the user themself, or by a tenant approver (API key with calls:approve)',
    details: [
      '--rules  JSON array, first match wins: [{"tool": "send_email", "approver": "user"},',
      '         {"tool": "create_issue", "approver": "tenant", "when": {"argument": "repo", "equals": "acme/prod"}}]',
      '--clear  no call waits for approval',
    ],
    options: { slug: { type: 'string' }, rules: { type: 'string' }, clear: { type: 'boolean' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await tenantSetApprovals(res, { slug: str(v, 'slug'), rules: str(v, 'rules'), clear: v.clear === true }), 0)),
  },
  'tenant mcp-config': {
    usage: 'tenant mcp-config --slug <slug> [--token <token>]',
    summary: 'print a .mcp.json for the tenant (with an Authorization header when --token is given)',
    details: ['--token    for clients that cannot do OAuth yet (e.g. from `dev token`)'],
    options: { slug: { type: 'string' }, token: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await tenantMcpConfig(res, { slug: str(v, 'slug'), token: str(v, 'token') }), 0)),
  },
  ...tenantApiKeyCommands,
  'tenant retention': {
    usage: 'tenant retention --slug <slug> [--call-days 30] [--audit-days 400]',
    summary: "show or set the tenant's retention of call results and audit events (days)",
    details: ['Audit rows leave only once sealed by a checkpoint and older than --audit-days (docs/audit.md).'],
    options: { slug: { type: 'string' }, 'call-days': { type: 'string' }, 'audit-days': { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await tenantRetention(res, { slug: str(v, 'slug'), callDays: str(v, 'call-days'), auditDays: str(v, 'audit-days') }), 0)),
  },
};
