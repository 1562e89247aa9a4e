import { z } from 'zod';
import { defineTool } from '../tool.js';
import { GITHUB_REPO_SCOPE, repoName } from './github-shapes.js';

// docs/upstream-apis.md §5.3 (items) and §5.1 (login).
const searchAnswer = z.looseObject({
  total_count: z.number(),
  incomplete_results: z.boolean(),
  items: z.array(
    z.looseObject({
      name: z.string(),
      path: z.string(),
      sha: z.string().optional(),
      html_url: z.string(),
      repository: z.looseObject({ full_name: z.string(), private: z.boolean().optional() }),
    }),
  ),
});
const userAnswer = z.looseObject({ login: z.string() });

/**
 * `GET /search/code` within one named repository, or within the repositories the user owns
 * (`user:<their login>`, read from `GET /user`). GitHub searches only default branches.
 */
export const githubSearchCode = defineTool({
  name: 'github_search_code',
  title: 'Search code in my GitHub repositories',
  description:
    "Searches code on the default branch of one repository you can see (repo: owner/name), or of all repositories you own. The query takes GitHub's code search syntax (terms plus qualifiers like path:, extension:, language:). Returns matching file paths with links.",
  input: z
    .object({
      query: z.string().trim().min(1).max(256).describe('Search terms (and optional qualifiers)'),
      repo: repoName.optional().describe('Search only this repository (owner/name); default: every repository you own'),
      max_results: z.number().int().min(1).max(100).default(20).describe('How many files (1–100)'),
    })
    .strict(),
  output: z.object({
    query: z.string(),
    totalCount: z.number(),
    incompleteResults: z.boolean(),
    items: z.array(z.object({ repository: z.string(), path: z.string(), name: z.string(), url: z.string() })),
  }),
  mcpScope: 'tools:github_search_code',
  upstream: { provider: 'github', scopes: [GITHUB_REPO_SCOPE] },
  timeoutMs: 20_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: false },
  maxResultBytes: 256 * 1024,
  text: (out) =>
    out.items.length === 0
      ? `No code matches ${JSON.stringify(out.query)}.`
      : [
          `${out.items.length} of ${out.totalCount} file(s) for ${JSON.stringify(out.query)}${out.incompleteResults ? ' (GitHub stopped early: results may be incomplete)' : ''}:`,
          ...out.items.map((i) => `- ${i.repository}: ${i.path}`),
        ].join('\n'),
  async run(ctx, args) {
    const gh = ctx.upstream!;
    const within = args.repo ? `repo:${args.repo}` : `user:${(await gh.json('github', { path: '/user' }, userAnswer)).data.login}`;
    const q = `${args.query} ${within}`;
    const { data } = await gh.json('github', { path: '/search/code', query: { q, per_page: args.max_results, page: 1 } }, searchAnswer);
    return {
      query: q,
      totalCount: data.total_count,
      incompleteResults: data.incomplete_results,
      items: data.items.slice(0, args.max_results).map((i) => ({ repository: i.repository.full_name, path: i.path, name: i.name, url: i.html_url })),
    };
  },
});
