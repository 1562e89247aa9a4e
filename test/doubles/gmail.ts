/**
 * A local stand-in for the Gmail API v1 (gmail.googleapis.com), on node:http with no deps.
 * Shapes follow docs/upstream-apis.md §2:
 *   - `GET /gmail/v1/users/{userId}/messages` — users.messages.list (§2.1): `q`, `maxResults`
 *     (default 100, max 500), `pageToken`, `labelIds` (all must match), `includeSpamTrash`;
 *     `{messages:[{id,threadId}], nextPageToken?, resultSizeEstimate}`, `messages` omitted when empty;
 *   - `GET /gmail/v1/users/{userId}/messages/{id}` — users.messages.get (§2.2): `format` =
 *     `minimal` | `metadata` (+ repeatable `metadataHeaders`, matched case-insensitively) | `full`
 *     (default). `raw` is not served (400): no tool reads it.
 * Errors are the Google JSON error format (§2.4). `userId` is `me` or the user's own address.
 * Scopes (any one, §2.1): mail.google.com, gmail.modify, gmail.readonly, gmail.metadata — and with only
 * gmail.metadata, `q` is refused (400 badRequest, §2.1/§2.4) and `format=full|raw` too (403
 * insufficientPermissions: the reference says "not allowed" without a status, so the double picks the
 * scope error, whose remedy — re-consent — is the right one).
 */
import type { DoubleControls, DoubleRequestRecord, Reply } from './http-double.js';
import { decodePageToken, encodePageToken, ReplyError, startHttpDouble } from './http-double.js';
import type { GmailMailbox, GmailMessage } from './gmail-fixtures.js';
import { compileGmailQuery } from './gmail-search.js';
import type { GoogleFailure } from './google-errors.js';
import { badRequest, googleError, googleFailureReply, intParam, insufficientScopes, notFound, pathSegment, requireScope } from './google-errors.js';

const SCOPE = 'https://www.googleapis.com/auth/';
export const GMAIL_SCOPES = {
  full: 'https://mail.google.com/',
  modify: `${SCOPE}gmail.modify`,
  readonly: `${SCOPE}gmail.readonly`,
  metadata: `${SCOPE}gmail.metadata`,
} as const;
const READ_SCOPES: readonly string[] = Object.values(GMAIL_SCOPES);
const BODY_SCOPES: readonly string[] = [GMAIL_SCOPES.full, GMAIL_SCOPES.modify, GMAIL_SCOPES.readonly];

const DEFAULT_MAX_RESULTS = 100; // §2.1
const MAX_MAX_RESULTS = 500; // §2.1; larger values are clamped (the reference gives no error for them)

export type GmailDouble = DoubleControls<GmailMailbox, GoogleFailure>;

export interface GmailDoubleOptions {
  port?: number;
  /** The clock `newer_than:`/`older_than:` read. */
  now?: () => number;
  /**
   * Answer `format=metadata` with only id, threadId, labelIds and payload headers. §2.2 calls
   * snippet, sizeEstimate, historyId and internalDate "normally present; treat them as optional":
   * this is how a test checks that a tool does.
   */
  omitOptionalMetadata?: boolean;
}

export async function startGmailDouble(opts: GmailDoubleOptions = {}): Promise<GmailDouble> {
  const now = opts.now ?? Date.now;
  return startHttpDouble<GmailMailbox, GoogleFailure>({
    port: opts.port,
    failureReply: (failure, req, auth) => googleFailureReply(failure, req, auth, 'userRateLimitExceeded'),
    route(req, auth) {
      const match = /^\/gmail\/v1\/users\/([^/]+)\/messages(?:\/([^/]+))?$/.exec(req.path);
      if (!match || req.method !== 'GET') throw new ReplyError(notFound(`No route for ${req.method} ${req.path}`));
      const mailbox = requireScope(auth, READ_SCOPES);
      const userId = pathSegment(match[1]!);
      if (userId !== 'me' && userId.toLowerCase() !== mailbox.email.toLowerCase()) {
        // The reference is silent on another user's address; Gmail answers 403 "Delegation denied".
        throw new ReplyError(googleError({ code: 403, reason: 'forbidden', message: `Delegation denied for ${mailbox.email}` }));
      }
      const metadataOnly = auth.ok && !auth.grant.scopes.some((s) => BODY_SCOPES.includes(s));
      const id = match[2];
      return id === undefined
        ? listMessages(req, mailbox, metadataOnly, now())
        : getMessage(req, mailbox, pathSegment(id), metadataOnly, opts.omitOptionalMetadata ?? false);
    },
  });
}

function listMessages(req: DoubleRequestRecord, mailbox: GmailMailbox, metadataOnly: boolean, now: number): Reply {
  const q = req.query.get('q');
  if (q !== null && metadataOnly) {
    // §2.1: `q` is not allowed with gmail.metadata; §2.4 lists it under 400 (exact reason unconfirmed).
    throw new ReplyError(badRequest("Metadata scope does not support 'q' parameter", 'q'));
  }
  const maxResults = intParam(req, 'maxResults', DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS);
  const offset = decodePageToken(req.query.get('pageToken'));
  if (offset === undefined) throw new ReplyError(badRequest('Invalid pageToken', 'pageToken'));
  const labelIds = req.query.getAll('labelIds');
  const includeSpamTrash = req.query.get('includeSpamTrash') === 'true';
  const matchesQuery = q ? compileGmailQuery(q) : () => true;

  const hits = mailbox.messages
    .filter((m) => includeSpamTrash || !m.labelIds.some((l) => l === 'SPAM' || l === 'TRASH'))
    .filter((m) => labelIds.every((l) => m.labelIds.includes(l)))
    .filter((m) => matchesQuery(m, now))
    .sort((a, b) => Number(b.internalDate) - Number(a.internalDate));
  const page = hits.slice(offset, offset + maxResults);
  const body: Record<string, unknown> = {};
  if (page.length > 0) body['messages'] = page.map((m) => ({ id: m.id, threadId: m.threadId }));
  if (offset + maxResults < hits.length) body['nextPageToken'] = encodePageToken(offset + maxResults);
  body['resultSizeEstimate'] = hits.length;
  return { status: 200, body };
}

function getMessage(req: DoubleRequestRecord, mailbox: GmailMailbox, id: string, metadataOnly: boolean, bare: boolean): Reply {
  const message = mailbox.messages.find((m) => m.id === id);
  // Another user's id is simply not in this mailbox: the same 404 as an id that never existed.
  if (!message) throw new ReplyError(notFound());
  const format = req.query.get('format') ?? 'full';
  const ids = { id: message.id, threadId: message.threadId, labelIds: message.labelIds };
  const base = {
    ...ids,
    snippet: message.snippet,
    sizeEstimate: message.sizeEstimate,
    historyId: message.historyId,
    internalDate: message.internalDate,
  };
  switch (format) {
    case 'minimal':
      // §2.2: "id and labels; no headers, body or payload" — the double keeps to that (plus threadId).
      return { status: 200, body: ids };
    case 'metadata':
      return { status: 200, body: { ...(bare ? ids : base), payload: metadataPayload(message, req.query.getAll('metadataHeaders')) } };
    case 'full':
      if (metadataOnly) throw new ReplyError(insufficientScopes());
      return { status: 200, body: { ...base, payload: message.payload } };
    case 'raw':
      if (metadataOnly) throw new ReplyError(insufficientScopes());
      throw new ReplyError(badRequest('format=raw is not served by the test double', 'format'));
    default:
      throw new ReplyError(badRequest(`Invalid value for format: ${format}`, 'format'));
  }
}

/**
 * §2.2: metadata = headers only. The reference does not list which MessagePart fields come with them;
 * the double keeps `partId`, `mimeType`, `filename`, `headers` and drops `body`/`parts`.
 */
function metadataPayload(message: GmailMessage, wanted: string[]): Record<string, unknown> {
  const names = new Set(wanted.map((w) => w.toLowerCase()));
  const { partId, mimeType, filename } = message.payload;
  const headers = names.size === 0 ? message.payload.headers : message.payload.headers.filter((h) => names.has(h.name.toLowerCase()));
  return { partId, mimeType, filename, headers };
}
