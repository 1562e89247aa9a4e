import { userInfo } from 'node:os';
import { deleteAsClient, listAsClients, rotateAsClientSecret, type AsClientView, type DeletedAsClient } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { parseSlug } from '../args.js';
import { CliError, hint, UsageError, type CliResources } from '../resources.js';
import { builtinTenant } from './client-create.js';
import { parseJwks } from './service-client-create.js';

const keyringOf = (res: CliResources) => parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);

/** `client list --tenant <slug>`: the tenant's stored OAuth clients, one line each (never a secret). */
export async function clientList(res: CliResources, input: { tenant?: string }): Promise<AsClientView[]> {
  const tenant = await builtinTenant(res, parseSlug(input.tenant, '--tenant'));
  const clients = await listAsClients(res.db, keyringOf(res), tenant.id, 1_000);
  if (clients.length === 0) hint(res, `tenant ${tenant.slug} has no registered clients`);
  for (const c of clients) {
    res.out(
      `${c.clientId}  ${c.kind}  created=${c.createdAt?.toISOString() ?? 'unknown'}  expires=${c.expiresAt?.toISOString() ?? 'never'}  grants=${c.grants}  ${c.name}`,
    );
  }
  return clients;
}

function parseClientId(value: string | undefined): string {
  const clientId = value?.trim();
  if (!clientId) throw new UsageError('--client-id is required: an id shown by `client list`');
  if (clientId.length > 300) throw new UsageError('--client-id is too long (at most 300 characters)');
  return clientId;
}

/** Who ran the CLI, as the audit row names the actor: `cli:<os user>` (`cli` when the process has no user name). */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`.slice(0, 200);
  } catch {
    return 'cli';
  }
}

/**
 * `client delete --tenant <slug> --client-id <id>`: the client, its grants with their codes and
 * refresh tokens, its registration access tokens and its place in trusted IdPs' lists (the one
 * deletion, `deleteAsClient`), audited as `oauth_client.deleted` naming `cli:<os user>`.
 */
export async function clientDelete(res: CliResources, input: { tenant?: string; clientId?: string }): Promise<DeletedAsClient> {
  const clientId = parseClientId(input.clientId);
  const tenant = await builtinTenant(res, parseSlug(input.tenant, '--tenant'));
  const deleted = await deleteAsClient(res.db, keyringOf(res), { tenantId: tenant.id, clientId, actor: cliActor() });
  if (!deleted) throw new CliError(`tenant ${tenant.slug} has no client ${JSON.stringify(clientId)} (see \`client list --tenant ${tenant.slug}\`)`);
  res.out(`deleted client ${deleted.clientId} (${deleted.kind}) of tenant ${tenant.slug}: ${deleted.grants} grant(s) with their codes and refresh tokens`);
  for (const idp of deleted.idps) {
    res.out(idp.dropped ? `no longer trusts ${idp.issuer} (it named only this client)` : `${idp.issuer} no longer lists this client`);
  }
  hint(res, 'access tokens it already holds stay valid until they expire (at most 10 minutes); nothing else of it is accepted from now on');
  return deleted;
}

/**
 * `client rotate-secret --tenant <slug> --client-id <id> [--jwks <json>|@file]`: a new secret for a
 * client that has one (printed once), or new public keys for one that signs its token requests (the
 * one rotation, `rotateAsClientSecret`): same id, grants and principal; the old secret is refused
 * from now on. Audited as `oauth_client.secret_rotated` naming `cli:<os user>`.
 */
export async function clientRotateSecret(
  res: CliResources,
  input: { tenant?: string; clientId?: string; jwks?: string },
): Promise<{ clientId: string; clientSecret?: string }> {
  const clientId = parseClientId(input.clientId);
  const jwks = input.jwks === undefined ? undefined : parseJwks(input.jwks);
  const tenant = await builtinTenant(res, parseSlug(input.tenant, '--tenant'));
  const out = await rotateAsClientSecret(res.db, keyringOf(res), { tenantId: tenant.id, clientId, jwks, actor: cliActor() });
  if (out.outcome === 'not_found')
    throw new CliError(`tenant ${tenant.slug} has no client ${JSON.stringify(clientId)} (see \`client list --tenant ${tenant.slug}\`)`);
  if (out.outcome === 'refused') throw new CliError(`client ${clientId}: ${out.message}`);
  if (out.clientSecret) res.out(`client_secret ${out.clientSecret}   (shown once; stored sealed)`);
  else res.out(`client ${clientId} now verifies its token requests with ${out.keys} key(s)`);
  hint(
    res,
    `client ${clientId} (${out.kind}) keeps its id and grants; the old ${out.clientSecret ? 'secret' : 'keys'} are refused from now on, access tokens already issued lapse within their lifetime (at most 10 minutes)`,
  );
  return { clientId, ...(out.clientSecret ? { clientSecret: out.clientSecret } : {}) };
}
