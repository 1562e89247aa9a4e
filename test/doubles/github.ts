/**
 * A local stand-in for the GitHub REST API (api.github.com), on node:http with no deps.
 * Shapes follow docs/upstream-apis.md §5:
 *   - `GET /user` (§5.1): public-user fields; the private extras only with `read:user` or `user`;
 *   - `GET /user/repos` (§5.2): `visibility`, `affiliation`, `type` (422 with either of the former),
 *     `sort`, `direction`, `since`, `before`, `per_page`, `page`, and the `Link` header;
 *   - `GET /search/code` (§5.3), paged the same way (see github-search.ts);
 *   - `GET /repos/{owner}/{repo}/contents/{path}?ref=` (§5.4, see github-contents.ts).
 * Every authenticated answer carries the §5.5 `x-ratelimit-*` headers (counted per user and resource)
 * and `X-OAuth-Scopes`; repository routes add `X-Accepted-OAuth-Scopes: repo`. Errors are §5.6 bodies.
 * A token without `repo` sees public repositories only: `/user/repos` leaves the private ones out (as
 * GitHub does), while naming a private repository the user could reach answers `scopeDenial` — 403
 * by default, or 404 (GitHub's habit of hiding private resources) when the double is started so.
 */
import type { Viewer } from './github-access.js';
import { accessTo, PRIVATE_SCOPE } from './github-access.js';
import { getContents } from './github-contents.js';
import type { GithubFailure, RateResource } from './github-errors.js';
import { basicError, notFound, RateCounter, resourceOf, validationFailed } from './github-errors.js';
import type { GithubAccount, GithubRepo } from './github-fixtures.js';
import { affiliationOf, fullName } from './github-fixtures.js';
import { linkHeader, paging, renderRepo, renderUser } from './github-render.js';
import { MAX_SEARCH_RESULTS, searchCode } from './github-search.js';
import type { AuthResult, DoubleControls, DoubleRequestRecord, Reply } from './http-double.js';
import { ReplyError, startHttpDouble } from './http-double.js';

export interface GithubDouble extends DoubleControls<GithubAccount, GithubFailure> {
  /** The repository registry shared by all users; push or edit freely. */
  repos: GithubRepo[];
  addRepo(...repos: GithubRepo[]): void;
}

export interface GithubDoubleOptions {
  port?: number;
  repos?: GithubRepo[];
  /** How a private repo the user could reach, named through a token without `repo`, is refused. */
  scopeDenial?: 403 | 404;
  /**
   * §5.3: "On timeout, the results found so far are returned with incomplete_results: true". With
   * this set, code search answers the first half of its hits that way.
   */
  incompleteSearch?: boolean;
  now?: () => number;
}

const REPO_SORTS = ['created', 'updated', 'pushed', 'full_name'] as const;

export async function startGithubDouble(opts: GithubDoubleOptions = {}): Promise<GithubDouble> {
  const repos: GithubRepo[] = [...(opts.repos ?? [])];
  const scopeDenial = opts.scopeDenial ?? 403;
  const rates = new RateCounter(opts.now ?? Date.now);
  const viewerOf = (auth: AuthResult<GithubAccount>): Viewer & { account: GithubAccount } => {
    if (auth.ok) return { login: auth.grant.account.data.user.login, scopes: auth.grant.scopes, account: auth.grant.account.data };
    // §5.6 basic-error; "Requires authentication" / "Bad credentials" are GitHub's wording (not in the reference).
    throw new ReplyError(basicError(401, auth.reason === 'missing' ? 'Requires authentication' : 'Bad credentials'));
  };

  const controls = await startHttpDouble<GithubAccount, GithubFailure>({
    port: opts.port,
    route(req, auth, base) {
      if (req.method !== 'GET') throw notFound();
      const viewer = viewerOf(auth);
      if (req.path === '/user') {
        const withPrivate = viewer.scopes.includes('read:user') || viewer.scopes.includes('user');
        return { status: 200, body: renderUser(viewer.account.user, base, repos, withPrivate) };
      }
      if (req.path === '/user/repos') return listRepos(req, viewer, repos, base);
      if (req.path === '/search/code') return pagedSearch(req, viewer, repos, base, { scopeDenial, incomplete: opts.incompleteSearch ?? false });
      const contents = /^\/repos\/([^/]+)\/([^/]+)\/contents(?:\/(.*))?$/.exec(req.path);
      if (contents) {
        const [, owner = '', name = '', path = ''] = contents.map((s) => (s === undefined ? s : decodeSegment(s)));
        const repo = repos.find((r) => fullName(r).toLowerCase() === `${owner}/${name}`.toLowerCase());
        if (!repo) throw notFound();
        const reply = getContents({ repo, path, ref: req.query.get('ref'), accept: req.headers['accept'] ?? '', viewer, base, scopeDenial });
        return withAccepted(reply);
      }
      throw notFound();
    },
    failureReply(failure, req, auth) {
      const user = auth.ok ? auth.grant.account.data.user : undefined;
      const resource = resourceOf(req.path);
      if (failure.status === 429 || (failure.status === 403 && failure.rateLimited)) {
        const headers = rates.exhausted(user?.login ?? '-', resource);
        return basicError(failure.status, failure.message ?? `API rate limit exceeded for user ID ${user?.id ?? 0}.`, headers);
      }
      if (failure.status === 403) {
        return basicError(403, failure.message ?? 'Resource not accessible with this token: it lacks the scope this call needs', {
          'x-accepted-oauth-scopes': PRIVATE_SCOPE,
        });
      }
      // §5.6: a validation error carries errors[] whose only required field is `code`.
      if (failure.status === 422 && failure.message === undefined) return validationFailed([{ code: 'invalid' }]).reply;
      const messages: Record<number, string> = { 401: 'Bad credentials', 404: 'Not Found', 500: 'Server Error' };
      return basicError(failure.status, failure.message ?? messages[failure.status] ?? 'Server Error');
    },
    decorate(reply, req, auth) {
      if (!auth.ok) return;
      const counted = rates.count(auth.grant.account.data.user.login, resourceOf(req.path) satisfies RateResource);
      // Headers a route or failure already set (an exhausted window) win over the running count.
      reply.headers = { ...counted, 'x-oauth-scopes': auth.grant.scopes.join(', '), ...reply.headers };
    },
  });

  return {
    ...controls,
    repos,
    addRepo: (...more) => void repos.push(...more),
  };
}

function listRepos(req: DoubleRequestRecord, viewer: Viewer, repos: GithubRepo[], base: string): Reply {
  const q = req.query;
  if (q.has('type') && (q.has('visibility') || q.has('affiliation'))) {
    throw new ReplyError(basicError(422, 'If you specify visibility or affiliation, you cannot specify type.'));
  }
  const visibility = q.get('visibility') ?? 'all';
  const affiliations = (q.get('affiliation') ?? 'owner,collaborator,organization_member').split(',');
  const type = q.get('type') ?? 'all';
  const sort = q.get('sort') ?? 'full_name';
  if (!['all', 'public', 'private'].includes(visibility) || !REPO_SORTS.includes(sort as (typeof REPO_SORTS)[number])) {
    throw new ReplyError(basicError(422, 'Validation Failed'));
  }
  const direction = q.get('direction') ?? (sort === 'full_name' ? 'asc' : 'desc');
  const since = q.get('since');
  const before = q.get('before');

  const listed = repos
    .filter((r) => accessTo(r, viewer) === 'visible')
    .filter((r) => {
      const affiliation = affiliationOf(r, viewer.login);
      if (!affiliation || !affiliations.includes(affiliation)) return false;
      if (visibility === 'public' && r.private) return false;
      if (visibility === 'private' && !r.private) return false;
      if (type === 'owner' && affiliation !== 'owner') return false;
      if (type === 'member' && affiliation === 'owner') return false;
      if (type === 'public' && r.private) return false;
      if (type === 'private' && !r.private) return false;
      if (since && r.updated_at < since) return false;
      if (before && r.updated_at >= before) return false;
      return true;
    })
    .sort((a, b) => {
      const key = (r: GithubRepo): string =>
        sort === 'full_name' ? fullName(r).toLowerCase() : sort === 'created' ? r.created_at : sort === 'updated' ? r.updated_at : r.pushed_at;
      const order = key(a).localeCompare(key(b));
      return direction === 'asc' ? order : -order;
    });
  const { perPage, page } = paging(q);
  const lastPage = Math.max(1, Math.ceil(listed.length / perPage));
  const body = listed.slice((page - 1) * perPage, page * perPage).map((r) => renderRepo(r, base));
  const link = linkHeader(base, req.path, q, page, lastPage);
  return { status: 200, headers: { 'x-accepted-oauth-scopes': PRIVATE_SCOPE, ...(link ? { link } : {}) }, body };
}

function pagedSearch(
  req: DoubleRequestRecord,
  viewer: Viewer,
  repos: GithubRepo[],
  base: string,
  mode: { scopeDenial: 403 | 404; incomplete: boolean },
): Reply {
  const all = searchCode(req.query.get('q'), repos, viewer, base, mode.scopeDenial);
  const hits = mode.incomplete ? all.slice(0, Math.ceil(all.length / 2)) : all;
  const { perPage, page } = paging(req.query);
  if ((page - 1) * perPage >= MAX_SEARCH_RESULTS && hits.length > 0) {
    throw new ReplyError(basicError(422, 'Only the first 1000 search results are available'));
  }
  const reachable = Math.min(hits.length, MAX_SEARCH_RESULTS);
  const lastPage = Math.max(1, Math.ceil(reachable / perPage));
  const items = hits.slice((page - 1) * perPage, Math.min(page * perPage, reachable)).map((h) => h.item);
  const link = linkHeader(base, req.path, req.query, page, lastPage);
  return {
    status: 200,
    headers: { 'x-accepted-oauth-scopes': PRIVATE_SCOPE, ...(link ? { link } : {}) },
    body: { total_count: hits.length, incomplete_results: mode.incomplete, items },
  };
}

function withAccepted(reply: Reply): Reply {
  return { ...reply, headers: { 'x-accepted-oauth-scopes': PRIVATE_SCOPE, ...reply.headers } };
}

/** A malformed percent-escape is a path that does not exist, not a crash. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw notFound();
  }
}
