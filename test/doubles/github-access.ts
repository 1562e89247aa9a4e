/**
 * Who sees which repository. Public repositories: any token. Private ones: their owner, collaborators
 * and organization members — and only through a token holding `repo` (docs/upstream-apis.md §5.7: `repo` is full access to
 * private repos; `public_repo` public ones only). A private repo the user could reach but the token
 * cannot is `'needs-scope'`, which the routes answer as the double's configured scope denial.
 */
import type { GithubRepo } from './github-fixtures.js';
import { affiliationOf } from './github-fixtures.js';

export interface Viewer {
  login: string;
  scopes: string[];
}

export type Access = 'visible' | 'needs-scope' | 'hidden';

export const PRIVATE_SCOPE = 'repo';

export function accessTo(repo: GithubRepo, viewer: Viewer): Access {
  if (!repo.private) return 'visible';
  if (affiliationOf(repo, viewer.login) === undefined) return 'hidden';
  return viewer.scopes.includes(PRIVATE_SCOPE) ? 'visible' : 'needs-scope';
}
