/**
 * A small subset of Gmail search-box syntax for the double's `q` (docs/upstream-apis.md §2.1 names the
 * syntax, not its grammar): space-separated terms, all must match (AND); `"quoted phrases"`;
 * `from:`, `to:`, `subject:`, `label:`, `in:`, `is:unread|read|starred|important`, `has:attachment`,
 * `newer_than:Nd|Nm|Ny`, `older_than:…`, and a leading `-` to negate. Anything else is free text
 * matched, case-insensitively, against headers and text bodies. OR, braces and dates are not served.
 */
import type { GmailMessage } from './gmail-fixtures.js';
import { hasAttachment, headerValue, searchableText } from './gmail-fixtures.js';

type Predicate = (m: GmailMessage, now: number) => boolean;

export function compileGmailQuery(q: string): Predicate {
  const predicates = tokenize(q).map(compileTerm);
  return (m, now) => predicates.every((p) => p(m, now));
}

function tokenize(q: string): string[] {
  return [...q.matchAll(/-?(?:\w+:)?"[^"]*"|\S+/g)].map((m) => m[0]);
}

function compileTerm(raw: string): Predicate {
  const negated = raw.startsWith('-') && raw.length > 1;
  const term = negated ? raw.slice(1) : raw;
  const positive = compilePositive(term);
  return negated ? (m, now) => !positive(m, now) : positive;
}

function compilePositive(term: string): Predicate {
  const op = /^(\w+):(.*)$/.exec(term);
  if (!op) {
    const text = unquote(term).toLowerCase();
    return (m) => searchableText(m).includes(text);
  }
  const [, name = '', rawValue = ''] = op;
  const value = unquote(rawValue).toLowerCase();
  const label =
    (id: string): Predicate =>
    (m) =>
      m.labelIds.some((l) => l.toLowerCase() === id);
  switch (name.toLowerCase()) {
    case 'from':
    case 'to':
    case 'subject':
      return (m) => headerValue(m, name).toLowerCase().includes(value);
    case 'label':
    case 'in':
      return label(value);
    case 'is':
      if (value === 'read') return (m) => !m.labelIds.includes('UNREAD');
      return label(value);
    case 'has':
      return value === 'attachment' ? hasAttachment : () => false;
    case 'newer_than':
    case 'older_than': {
      const ms = durationMs(value);
      if (ms === undefined) return () => false;
      const newer = name.toLowerCase() === 'newer_than';
      return (m, now) => Number(m.internalDate) > now - ms === newer;
    }
    default: {
      const text = term.toLowerCase();
      return (m) => searchableText(m).includes(text);
    }
  }
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1) : s;
}

function durationMs(value: string): number | undefined {
  const match = /^(\d+)([dmy])$/.exec(value);
  if (!match) return undefined;
  const days = { d: 1, m: 30, y: 365 }[match[2] as 'd' | 'm' | 'y'];
  return Number(match[1]) * days * 86_400_000;
}
