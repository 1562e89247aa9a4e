import { createToolRegistry } from '@mcprt/tools';
import { UsageError } from './resources.js';
import { formatScopes, isScopeToken, parseScopes } from '@mcprt/policy';

/**
 * Argument validation shared by the commands (the functions validate, not only main.ts, so a test or
 * another caller gets the same checks). Messages name the flag and the rule; they echo the value
 * only where it cannot be a secret.
 */

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const KID = /^[A-Za-z0-9_-]{1,32}$/;

export function parseSlug(value: string | undefined, flag = '--slug'): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  if (!SLUG.test(value)) {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is invalid: use 1-63 characters of a-z, 0-9 and "-", starting with a letter or digit`);
  }
  return value;
}

/** An absolute http(s) URL without query or fragment, kept exactly as given (the issuer must match `iss` byte for byte). */
export function parseHttpUrl(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be an absolute URL like https://idp.example.com`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${flag} must be an http(s) URL`);
  if (url.search || url.hash || url.username || url.password) throw new UsageError(`${flag} must not contain a query, fragment or credentials`);
  return value;
}

/** A comma-separated list of tool names, each offered by this deployment's registry; `all` = every tool it offers. */
export function parseTools(value: string | undefined, opts: { includeTestTools: boolean; fallback: readonly string[] }): string[] {
  const available = createToolRegistry({ includeTestTools: opts.includeTestTools }).names();
  if (value?.trim() === 'all') return available;
  const names =
    value === undefined
      ? [...opts.fallback]
      : value
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean);
  if (names.length === 0) throw new UsageError('--tools needs at least one tool name');
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length) {
    throw new UsageError(
      `--tools: unknown tool${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')}; available: ${available.join(', ')}`,
    );
  }
  return [...new Set(names)];
}

export function parseKid(value: string): string {
  if (!KID.test(value)) throw new UsageError('--kid must be 1-32 characters of A-Z a-z 0-9 _ -');
  return value;
}

export function parseIntInRange(value: string | number | undefined, flag: string, def: number, min: number, max: number): number {
  if (value === undefined) return def;
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer from ${min} to ${max}`);
  return n;
}

export function parseNonEmpty(value: string | undefined, flag: string, max = 200): string {
  const v = value?.trim();
  if (!v) throw new UsageError(`${flag} is required`);
  if (v.length > max) throw new UsageError(`${flag} must be at most ${max} characters`);
  return v;
}

/** An OAuth scope string: space-separated tokens of printable ASCII without `"` or `\`. */
export function parseScope(value: string, flag = '--scope'): string {
  const tokens = parseScopes(value);
  if (tokens.length === 0 || !tokens.every(isScopeToken)) {
    throw new UsageError(`${flag} must be space-separated scope names like "tools:whoami tools:web_search"`);
  }
  return formatScopes(tokens);
}
