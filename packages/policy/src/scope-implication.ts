/**
 * Which upstream scopes a broader granted scope already covers (decision table row 5 in decide.ts).
 * A user who granted Gmail `gmail.modify` holds a token that reads mail; refusing them for lacking
 * `gmail.readonly` would send them to re-consent for nothing.
 *
 * Plain data, per provider (a scope string means something only at its provider: `repo` is a GitHub
 * scope, nothing at Google). Each row lists *every* scope the granted one covers, so a lookup is one
 * step and the table reads as it is (no transitive closure to work out; `scope-implication.test.ts`
 * checks the table is closed). Only what the providers document is listed; when in doubt, leave it
 * out: a missing row costs a re-consent, a wrong row lets a call through that the upstream then
 * refuses with 403.
 *
 * Sources (also `/work/shared/reference/upstream-apis.md`, DESIGN §7):
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
