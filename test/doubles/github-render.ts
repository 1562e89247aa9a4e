/**
 * GitHub JSON objects as the double writes them. API URLs point at the double's own base URL (so a
 * client following `url` or a `Link` stays on loopback); `html_url`s point at github.com, as upstream.
 */
import type { GithubRepo, GithubUser } from './github-fixtures.js';
import { fullName } from './github-fixtures.js';

/**
 * docs/upstream-apis.md §5.2 lists `id, name, full_name, private, owner{login,…}, html_url, default_branch` "and so on"
 * (the full list was not re-read). The double adds only what its own parameters act on —
 * `created_at`/`updated_at`/`pushed_at` (sort, since, before) — plus `description` and `url`.
 */
export function renderRepo(repo: GithubRepo, base: string): Record<string, unknown> {
  return {
    id: repo.id,
    name: repo.name,
    full_name: fullName(repo),
    private: repo.private,
    owner: { login: repo.owner.login, id: repo.owner.id, type: repo.owner.type },
    html_url: `https://github.com/${fullName(repo)}`,
    description: repo.description,
    url: `${base}/repos/${fullName(repo)}`,
    default_branch: repo.default_branch,
    created_at: repo.created_at,
    updated_at: repo.updated_at,
    pushed_at: repo.pushed_at,
  };
}

/** §5.3 item `repository`: exactly the fields the reference shows. */
export function renderSearchRepo(repo: GithubRepo): Record<string, unknown> {
  return {
    id: repo.id,
    name: repo.name,
    full_name: fullName(repo),
    private: repo.private,
    owner: { login: repo.owner.login },
    html_url: `https://github.com/${fullName(repo)}`,
  };
}

/**
 * §5.1: the public-user fields, plus the private extras when the token holds `read:user` or `user`.
 * The `*_url` templates (followers_url, repos_url, …) are left out: the reference names them only as a pattern.
 */
export function renderUser(user: GithubUser, base: string, repos: GithubRepo[], withPrivate: boolean): Record<string, unknown> {
  const owned = repos.filter((r) => r.owner.login === user.login);
  const out: Record<string, unknown> = {
    login: user.login,
    id: user.id,
    node_id: Buffer.from(`04:User${user.id}`).toString('base64'),
    avatar_url: `https://avatars.githubusercontent.com/u/${user.id}?v=4`,
    gravatar_id: '',
    url: `${base}/users/${user.login}`,
    html_url: `https://github.com/${user.login}`,
    type: 'User',
    site_admin: false,
    name: user.name ?? null,
    company: user.company ?? null,
    blog: user.blog ?? '',
    location: user.location ?? null,
    email: user.email ?? null,
    hireable: user.hireable ?? null,
    bio: user.bio ?? null,
    twitter_username: user.twitter_username ?? null,
    public_repos: owned.filter((r) => !r.private).length,
    public_gists: user.public_gists ?? 0,
    followers: user.followers ?? 0,
    following: user.following ?? 0,
    created_at: user.created_at ?? '2020-01-01T00:00:00Z',
    updated_at: user.updated_at ?? '2026-01-01T00:00:00Z',
  };
  if (!withPrivate) return out;
  const ownedPrivate = owned.filter((r) => r.private).length;
  return {
    ...out,
    private_gists: user.private_gists ?? 0,
    total_private_repos: ownedPrivate,
    owned_private_repos: ownedPrivate,
    disk_usage: user.disk_usage ?? 0,
    collaborators: user.collaborators ?? 0,
    two_factor_authentication: user.two_factor_authentication ?? true,
    plan: user.plan ?? { name: 'free', space: 976562499, private_repos: 10000, collaborators: 0 },
  };
}

/** §5.2: `Link: <…page=2>; rel="next", <…page=5>; rel="last"` (also prev, first), built on the request's own query. */
export function linkHeader(base: string, path: string, query: URLSearchParams, page: number, lastPage: number): string | undefined {
  const at = (p: number): string => {
    const q = new URLSearchParams(query);
    q.set('page', String(p));
    return `<${base}${path}?${q.toString()}>`;
  };
  const links: string[] = [];
  if (page > 1) links.push(`${at(page - 1)}; rel="prev"`);
  if (page < lastPage) links.push(`${at(page + 1)}; rel="next"`, `${at(lastPage)}; rel="last"`);
  if (page > 1) links.push(`${at(1)}; rel="first"`);
  return links.length > 0 ? links.join(', ') : undefined;
}

/** `per_page` (default 30, max 100 — clamped) and `page` (1-based); unreadable values fall back to the defaults. */
export function paging(query: URLSearchParams): { perPage: number; page: number } {
  const perPage = Number(query.get('per_page') ?? 30);
  const page = Number(query.get('page') ?? 1);
  return {
    perPage: Number.isInteger(perPage) && perPage >= 1 ? Math.min(perPage, 100) : 30,
    page: Number.isInteger(page) && page >= 1 ? page : 1,
  };
}
