/**
 * Every kind of scope, in one place: how a scope string is read and written, the MCP scopes a token
 * carries (one per tool, plus the history scopes), the scopes of tenant API keys, and which upstream
 * scopes a broader granted one already covers.
 */

// ---- Reading and writing scope strings -----------------------------------------------------------

/** One scope token (RFC 6749 §3.3): one or more printable ASCII characters other than space, `"` and `\`. */
const TOKEN = '[\\x21\\x23-\\x5b\\x5d-\\x7e]';
const SCOPE_TOKEN = new RegExp(`^${TOKEN}+$`);

/**
 * How a list of scopes is written: `space` is OAuth's own (RFC 6749 §3.3, access tokens, authorize
 * requests); `comma` is the operator's flags and GitHub's answers; `space-or-comma` reads either
 * (GitHub's `X-OAuth-Scopes: repo, user` has both).
 */
export type ScopeSeparator = 'space' | 'comma' | 'space-or-comma';

const SPLIT: Record<ScopeSeparator, RegExp> = { space: /\s+/, comma: /\s*,\s*/, 'space-or-comma': /[\s,]+/ };

/** The scopes in `value` (absent or empty: none), in order; the one scope parser. */
export function parseScopes(value: string | null | undefined, separator: ScopeSeparator = 'space'): string[] {
  return (value ?? '')
    .split(SPLIT[separator])
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The one scope formatter: space-separated (OAuth), or comma-separated (operator output). */
export function formatScopes(scopes: readonly string[], separator: 'space' | 'comma' = 'space'): string {
  return scopes.join(separator === 'space' ? ' ' : ',');
}

/** Every scope of every list, once each, in first-seen order. */
export function unionScopes(...lists: readonly (readonly string[])[]): string[] {
  return [...new Set(lists.flat())];
}

/** True when `token` is a well-formed scope token. */
export const isScopeToken = (token: string): boolean => SCOPE_TOKEN.test(token);

/**
 * True for a well-formed scope string: tokens separated by single spaces (RFC 6749 §3.3). Bounds keep
 * what a request may ask for small; the empty string passes only with `allowEmpty`.
 */
export function isScopeString(value: string, o: { allowEmpty?: boolean; maxTokens?: number; maxTokenLength?: number } = {}): boolean {
  if (value === '') return o.allowEmpty === true;
  const tokens = value.split(' ');
  return tokens.length <= (o.maxTokens ?? Infinity) && tokens.every((t) => isScopeToken(t) && t.length <= (o.maxTokenLength ?? Infinity));
}

// ---- MCP scopes (what an access token for a tenant's MCP server carries) -------------------------

/** The MCP scope that lets a token call the tool `name`. */
export const toolScope = (name: string): string => `tools:${name}`;

/*
 * Scopes that reach past the tools: the user's history (tool calls and audit). The tenant's
 * authorization server accepts them and names them in plain words on its consent page, but the
 * protected resource metadata never advertises them: a client that asks for "everything advertised"
 * gets the tools only, and an app that wants the history asks by name. Tenant API keys have scopes
 * of the same names for the back office (below).
 */

/** See another app's calls (and results) of the same user. */
export const CALLS_READ = 'calls:read';
/** See and stop another app's calls of the same user. */
export const CALLS_CANCEL = 'calls:cancel';
/** Read the user's own audit history. */
export const AUDIT_READ = 'audit:read';

/** The consent page's words for the history scopes, in the order they are shown. */
export const HISTORY_SCOPES: readonly { scope: string; consent: string }[] = [
  { scope: CALLS_READ, consent: 'See the tool calls and results of your other apps' },
  { scope: CALLS_CANCEL, consent: 'See and stop the tool calls of your other apps' },
  { scope: AUDIT_READ, consent: 'See the audit history of your account' },
];

// ---- Tenant API keys (the back office): the history scopes, for the whole tenant -----------------

/** Approve or deny the calls the tenant's approval rules leave to a tenant approver (tenant API keys only). */
export const CALLS_APPROVE = 'calls:approve';

export const API_KEY_SCOPES = [AUDIT_READ, CALLS_READ, CALLS_CANCEL, CALLS_APPROVE] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export function isApiKeyScope(s: string): s is ApiKeyScope {
  return (API_KEY_SCOPES as readonly string[]).includes(s);
}

// ---- Upstream scopes: which ones a broader granted scope covers ------------------------------------

/**
 * Which upstream scopes a broader granted scope already covers (row 5 of `decideToolCall`'s table).
 * A user who granted Gmail `gmail.modify` holds a token that reads mail; refusing them for lacking
 * `gmail.readonly` would send them to re-consent for nothing.
 *
 * Plain data, per provider (a scope string means something only at its provider: `repo` is a GitHub
 * scope, nothing at Google). Each row lists *every* scope the granted one covers, so a lookup is one
 * step and the table reads as it is (no transitive closure to work out; `scopes.test.ts`
 * checks the table is closed). Only what the providers document is listed; when in doubt, leave it
 * out: a missing row costs a re-consent, a wrong row lets a call through that the upstream then
 * refuses with 403.
 *
 * Sources:
 * - Google: the Gmail and Calendar API scope lists ("any one of": `https://mail.google.com/`,
 *   `gmail.modify`, `gmail.readonly`, `gmail.metadata` for messages.list / get;
 *   `calendar`, `calendar.events`, `calendar.readonly`, `calendar.events.readonly` for events.list).
 *   `calendar.events` does NOT cover `calendar.readonly`: it cannot list calendars (calendarList.list).
 * - GitHub OAuth app scopes: `repo` includes `public_repo`, `repo:status`, `repo_deployment`,
 *   `repo:invite`, `security_events`; `user` includes `read:user`, `user:email`, `user:follow`.
 *
 * | provider | granted scope                                   | also covers                                                                 |
 * |----------|-------------------------------------------------|-----------------------------------------------------------------------------|
 * | google   | `https://mail.google.com/`                      | `gmail.modify`, `gmail.readonly`, `gmail.metadata`                          |
 * | google   | `…/auth/gmail.modify`                           | `gmail.readonly`, `gmail.metadata`                                          |
 * | google   | `…/auth/gmail.readonly`                         | `gmail.metadata`                                                            |
 * | google   | `…/auth/calendar`                               | `calendar.readonly`, `calendar.events`, `calendar.events.readonly`          |
 * | google   | `…/auth/calendar.events`                        | `calendar.events.readonly`                                                  |
 * | google   | `…/auth/calendar.readonly`                      | `calendar.events.readonly`                                                  |
 * | github   | `repo`                                          | `public_repo`, `repo:status`, `repo_deployment`, `repo:invite`, `security_events` |
 * | github   | `user`                                          | `read:user`, `user:email`, `user:follow`                                    |
 */

const G = 'https://www.googleapis.com/auth/';

export const SCOPE_IMPLICATIONS: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  google: {
    'https://mail.google.com/': [`${G}gmail.modify`, `${G}gmail.readonly`, `${G}gmail.metadata`],
    [`${G}gmail.modify`]: [`${G}gmail.readonly`, `${G}gmail.metadata`],
    [`${G}gmail.readonly`]: [`${G}gmail.metadata`],
    [`${G}calendar`]: [`${G}calendar.readonly`, `${G}calendar.events`, `${G}calendar.events.readonly`],
    [`${G}calendar.events`]: [`${G}calendar.events.readonly`],
    [`${G}calendar.readonly`]: [`${G}calendar.events.readonly`],
  },
  github: {
    repo: ['public_repo', 'repo:status', 'repo_deployment', 'repo:invite', 'security_events'],
    user: ['read:user', 'user:email', 'user:follow'],
  },
};

/** True when `granted` (a provider's scopes as the user granted them) holds `needed` or a scope that covers it. */
export function scopeGranted(provider: string, granted: readonly string[], needed: string, table = SCOPE_IMPLICATIONS): boolean {
  if (granted.includes(needed)) return true;
  const rows = Object.hasOwn(table, provider) ? table[provider]! : undefined;
  if (!rows) return false;
  return granted.some((g) => Object.hasOwn(rows, g) && rows[g]!.includes(needed));
}

/** The scopes of `needed` that `granted` does not cover, in the order asked. */
export function missingScopes(provider: string, granted: readonly string[], needed: readonly string[], table = SCOPE_IMPLICATIONS): string[] {
  return needed.filter((s) => !scopeGranted(provider, granted, s, table));
}
