import { userInfo } from 'node:os';
import {
  blockAsClient,
  deleteAsClient,
  isMetadataDocumentClientId,
  listAsClients,
  listBlockedClients,
  rotateAsClientSecret,
  unblockAsClient,
  type AsClientView,
  type DeletedAsClient,
} from '@mcprt/identity';
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
  for (const b of await listBlockedClients(res.db, keyringOf(res), tenant.id, 1_000)) res.out(`${b.clientId}  blocked  since=${b.blockedAt}`);
  return clients;
}

function parseClientId(value: string | undefined, max = 300): string {
  const clientId = value?.trim();
  if (!clientId) throw new UsageError('--client-id is required: an id shown by `client list`');
  if (clientId.length > max) throw new UsageError(`--client-id is too long (at most ${max} characters)`);
  return clientId;
}

/** A metadata document URL as `--client-id` (`client block` / `client unblock`). */
function parseDocumentClientId(value: string | undefined): string {
  const clientId = parseClientId(value, 2_000);
  if (!isMetadataDocumentClientId(clientId))
    throw new UsageError('--client-id must be a client metadata document URL (https://…/path); a registered client is deleted, not blocked');
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
  if (!deleted && isMetadataDocumentClientId(clientId))
    throw new CliError(`${clientId} is known by its metadata document, not registered: nothing is stored to delete; block it with \`client block\``);
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

/**
 * `client block --tenant <slug> --client-id <document URL>`: a client known only by its metadata
 * document (nothing stored to delete) is refused from now on, its grants revoked with their codes and
 * refresh tokens (the one block, `blockAsClient`); audited `oauth_client.blocked`.
 */
export async function clientBlock(res: CliResources, input: { tenant?: string; clientId?: string }): Promise<{ grants: number; already: boolean }> {
  const clientId = parseDocumentClientId(input.clientId);
  const tenant = await builtinTenant(res, parseSlug(input.tenant, '--tenant'));
  const out = await blockAsClient(res.db, keyringOf(res), { tenantId: tenant.id, clientId, actor: cliActor() });
  if (out.outcome === 'refused') throw new CliError(`client ${clientId}: ${out.message}`);
  res.out(
    `${out.already ? 'still blocked' : 'blocked'}: ${clientId} at tenant ${tenant.slug}; ${out.grants} grant(s) revoked with their codes and refresh tokens`,
  );
  hint(res, 'its document is no longer fetched or honoured; access tokens it already holds lapse within their lifetime (at most 10 minutes)');
  return { grants: out.grants, already: out.already };
}

/** `client unblock --tenant <slug> --client-id <document URL>`: lifts a block; audited `oauth_client.unblocked`. */
export async function clientUnblock(res: CliResources, input: { tenant?: string; clientId?: string }): Promise<void> {
  const clientId = parseDocumentClientId(input.clientId);
  const tenant = await builtinTenant(res, parseSlug(input.tenant, '--tenant'));
  if (!(await unblockAsClient(res.db, { tenantId: tenant.id, clientId, actor: cliActor() })))
    throw new CliError(`tenant ${tenant.slug} has not blocked ${clientId} (see \`client list --tenant ${tenant.slug}\`)`);
  res.out(`unblocked: ${clientId} at tenant ${tenant.slug} (its users sign in and consent again)`);
}
