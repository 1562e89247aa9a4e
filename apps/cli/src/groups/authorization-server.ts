import { asRotateKey } from '../commands/as-rotate-key.js';
import { clientCreate } from '../commands/client-create.js';
import { clientBlock, clientDelete, clientList, clientRotateSecret, clientUnblock } from '../commands/client-manage.js';
import { enterpriseClientCreate, tenantTrustIdp } from '../commands/enterprise-idp.js';
import { serviceClientCreate } from '../commands/service-client-create.js';
import { str, type CommandGroup } from '../command.js';

/** `client …` and `as …`: a built-in tenant's authorization server (pre-registered clients, signing keys). */
export const authorizationServerCommands: CommandGroup = {
  'client create': {
    usage: 'client create --tenant <slug> --name <name> --redirect-uri <url> [--redirect-uri <url>]… [--confidential]',
    summary: 'built-in tenants: pre-register an OAuth client (never expires); prints its id (and secret, once)',
    details: [
      '--redirect-uri  https, or http on a loopback address; exact match at authorization',
      '--confidential  a client with a secret (default: public, PKCE only)',
    ],
    options: { tenant: { type: 'string' }, name: { type: 'string' }, 'redirect-uri': { type: 'string', multiple: true }, confidential: { type: 'boolean' } },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await clientCreate(res, {
            tenant: str(v, 'tenant'),
            name: str(v, 'name'),
            redirectUris: (v['redirect-uri'] as unknown as string[] | undefined) ?? [],
            confidential: v.confidential === true,
          }),
          0
        ),
      ),
  },
  'client create-service': {
    usage:
      'client create-service --tenant <slug> --name <name> --scope "<scopes>" [--auth client_secret_basic|client_secret_post|private_key_jwt] [--jwks <json>|@file]',
    summary: 'built-in tenants: a machine client (client_credentials); its tokens name the service principal svc:<client_id>',
    details: [
      '--scope  space-separated: tools:<enabled tool>, calls:read, calls:cancel, audit:read (the most its tokens carry)',
      '--auth   how it authenticates at the token endpoint (default client_secret_basic; the secret is printed once)',
      '--jwks   private_key_jwt: its public keys, a JWKS as JSON text or @path/to/jwks.json',
    ],
    options: { tenant: { type: 'string' }, name: { type: 'string' }, scope: { type: 'string' }, auth: { type: 'string' }, jwks: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await serviceClientCreate(res, {
            tenant: str(v, 'tenant'),
            name: str(v, 'name'),
            scope: str(v, 'scope'),
            auth: str(v, 'auth'),
            jwks: str(v, 'jwks'),
          }),
          0
        ),
      ),
  },
  'client create-enterprise': {
    usage: 'client create-enterprise --tenant <slug> --name <name>',
    summary: 'built-in tenants: a confidential client that redeems ID-JAGs (jwt-bearer grant); prints its id and secret (once)',
    details: ['Then trust its enterprise IdP for it: tenant trust-idp --slug … --issuer … --jwks-uri … --client-id <this id>'],
    options: { tenant: { type: 'string' }, name: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await enterpriseClientCreate(res, { tenant: str(v, 'tenant'), name: str(v, 'name') }), 0)),
  },
  'client list': {
    usage: 'client list --tenant <slug>',
    summary: "built-in tenants: the authorization server's registered clients: id, kind, created, expiry, grants, name (never a secret)",
    details: [
      'kind     public (PKCE, no secret), confidential (secret), service (client_credentials), enterprise (jwt-bearer)',
      'expires  never for clients made here; a dynamic registration lapses after 30 days unused',
    ],
    options: { tenant: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await clientList(res, { tenant: str(v, 'tenant') }), 0)),
  },
  'client delete': {
    usage: 'client delete --tenant <slug> --client-id <id>',
    summary: 'built-in tenants: delete a client with its grants, codes and refresh tokens (and its place in trusted IdPs); audited',
    details: ['Its access tokens already issued lapse within their lifetime (10 minutes); its refresh tokens and secret are refused at once'],
    options: { tenant: { type: 'string' }, 'client-id': { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await clientDelete(res, { tenant: str(v, 'tenant'), clientId: str(v, 'client-id') }), 0)),
  },
  'client block': {
    usage: 'client block --tenant <slug> --client-id <metadata document URL>',
    summary: 'built-in tenants: refuse a client known only by its metadata document URL (nothing stored to delete); its grants are revoked; audited',
    details: [
      'Its document is no longer fetched or honoured from cache, on every replica; access tokens it already holds lapse within their lifetime (10 minutes)',
      'Per tenant: another tenant that uses the same document is not affected. `client unblock` lifts it',
    ],
    options: { tenant: { type: 'string' }, 'client-id': { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await clientBlock(res, { tenant: str(v, 'tenant'), clientId: str(v, 'client-id') }), 0)),
  },
  'client unblock': {
    usage: 'client unblock --tenant <slug> --client-id <metadata document URL>',
    summary: 'built-in tenants: lift a `client block`; audited',
    details: ['Its document is fetched again at its next use; its users sign in and consent again (the block revoked their grants)'],
    options: { tenant: { type: 'string' }, 'client-id': { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await clientUnblock(res, { tenant: str(v, 'tenant'), clientId: str(v, 'client-id') }), 0)),
  },
  'client rotate-secret': {
    usage: 'client rotate-secret --tenant <slug> --client-id <id> [--jwks <json>|@file]',
    summary: 'built-in tenants: a new secret for a client (printed once), or new public keys for a private_key_jwt client; audited',
    details: [
      'The client keeps its id, its grants and (a service client) its principal svc:<client_id>',
      'The old secret is refused at once on every replica; access tokens already issued lapse within their lifetime (10 minutes)',
      '--jwks  private_key_jwt clients only: the new public keys (JSON text or @file), replacing the old ones',
    ],
    options: { tenant: { type: 'string' }, 'client-id': { type: 'string' }, jwks: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await clientRotateSecret(res, { tenant: str(v, 'tenant'), clientId: str(v, 'client-id'), jwks: str(v, 'jwks') }), 0)),
  },
  'tenant trust-idp': {
    usage: 'tenant trust-idp --slug <slug> --issuer <url> (--jwks-uri <url> --client-id <id> [--client-id <id>]… | --remove)',
    summary: "built-in tenants: accept ID-JAGs (enterprise-managed authorization) of this IdP for these clients; replaces the issuer's entry",
    details: [
      '--issuer    the IdP issuer, exactly as its ID-JAGs name it (iss)',
      '--jwks-uri  where its signing keys are',
      '--client-id a client of this tenant (client create-enterprise) that may redeem them',
    ],
    options: {
      slug: { type: 'string' },
      issuer: { type: 'string' },
      'jwks-uri': { type: 'string' },
      'client-id': { type: 'string', multiple: true },
      remove: { type: 'boolean' },
    },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await tenantTrustIdp(res, {
            slug: str(v, 'slug'),
            issuer: str(v, 'issuer'),
            jwksUri: str(v, 'jwks-uri'),
            clientIds: (v['client-id'] as unknown as string[] | undefined) ?? [],
            remove: v.remove === true,
          }),
          0
        ),
      ),
  },
  'as rotate-key': {
    usage: 'as rotate-key --tenant <slug>',
    summary: "built-in tenants: a new signing key for the tenant's authorization server (old keys keep verifying)",
    details: ['--tenant   the tenant slug (auth mode builtin)'],
    options: { tenant: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await asRotateKey(res, { tenant: str(v, 'tenant') }), 0)),
  },
};
