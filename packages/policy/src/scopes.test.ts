import { describe, expect, it } from 'vitest';
import { missingScopes, SCOPE_IMPLICATIONS, scopeGranted } from './scopes.js';

describe('SCOPE_IMPLICATIONS', () => {
  it('is closed: whatever a covered scope covers, the broader one lists too (one lookup is enough)', () => {
    for (const [provider, rows] of Object.entries(SCOPE_IMPLICATIONS))
      for (const [granted, covered] of Object.entries(rows))
        for (const c of covered) for (const cc of rows[c] ?? []) expect(covered, `${provider}: ${granted} → ${c} → ${cc}`).toContain(cc);
  });

  it('never lists a scope as covering itself, and has no cycle', () => {
    for (const rows of Object.values(SCOPE_IMPLICATIONS))
      for (const [granted, covered] of Object.entries(rows)) {
        expect(covered).not.toContain(granted);
        for (const c of covered) expect(rows[c] ?? []).not.toContain(granted);
      }
  });

  it('covers the scopes the tools ask for with the broader grants the providers document', () => {
    expect(scopeGranted('google', ['https://www.googleapis.com/auth/gmail.modify'], 'https://www.googleapis.com/auth/gmail.readonly')).toBe(true);
    expect(scopeGranted('google', ['https://www.googleapis.com/auth/calendar'], 'https://www.googleapis.com/auth/calendar.readonly')).toBe(true);
    expect(scopeGranted('github', ['repo'], 'repo')).toBe(true);
    expect(missingScopes('github', ['public_repo'], ['read:user', 'repo'])).toEqual(['read:user', 'repo']);
  });
});
