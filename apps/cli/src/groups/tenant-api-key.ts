import { apiKeyCreate, apiKeyList, apiKeyRevoke } from '../commands/tenant-api-key.js';
import { str, type CommandGroup } from '../command.js';

/** `tenant api-key …`: the tenant's back-office API keys. */
export const tenantApiKeyCommands: CommandGroup = {
  'tenant api-key create': {
    usage: 'tenant api-key create --slug <slug> --scopes audit:read,calls:read,calls:cancel [--name <name>]',
    summary: 'a back-office API key for the tenant (printed once on stdout; stored hashed)',
    details: [
      "--scopes   comma-separated: audit:read (audit list + NDJSON export), calls:read (every user's calls), calls:cancel,",
      '           admin (sign in to the admin console at /t/<slug>/admin)',
      '--name     what the key is for (shown by list)',
      'Use: Authorization: Bearer mcprt_ak_… on /t/<slug>/v1/admin/… (docs/audit.md)',
    ],
    options: { slug: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await apiKeyCreate(res, { slug: str(v, 'slug'), scopes: str(v, 'scopes'), name: str(v, 'name') }), 0)),
  },
  'tenant api-key list': {
    usage: 'tenant api-key list --slug <slug>',
    summary: "the tenant's API keys: id, state, scopes, last use",
    details: [],
    options: { slug: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await apiKeyList(res, { slug: str(v, 'slug') }), 0)),
  },
  'tenant api-key revoke': {
    usage: 'tenant api-key revoke --slug <slug> --id <ak…>',
    summary: 'revoke an API key (refused at once by every API replica)',
    details: [],
    options: { slug: { type: 'string' }, id: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await apiKeyRevoke(res, { slug: str(v, 'slug'), id: str(v, 'id') }), 0)),
  },
};
