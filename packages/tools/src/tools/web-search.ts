import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { upstreamStatusError } from '@mcprt/egress';
import { defineTool } from '../tool.js';

// Scavio's documented response (shared/reference/upstream-apis.md §1.2): only organic_results is relied on.
const organic = z.looseObject({ position: z.number(), title: z.string(), link: z.string(), snippet: z.string().optional() });
const scavioResponse = z.looseObject({ organic_results: z.array(organic).default([]) });
const scavioError = z.looseObject({ error: z.union([z.string(), z.looseObject({ code: z.string().optional(), message: z.string().optional() })]) });

export const webSearch = defineTool({
  name: 'web_search',
  title: 'Web search',
  description: 'Searches the web (Google results through Scavio) and returns the organic results: position, title, link and snippet.',
  input: z
    .object({
      query: z.string().trim().min(1).max(500).describe('What to search for (1–500 characters)'),
      page: z.number().int().min(1).max(10).default(1).describe('Result page, 10 results per page'),
      country: z
        .string()
        .regex(/^[a-z]{2}$/i, 'two-letter country code')
        .optional()
        .describe('ISO 3166-1 alpha-2 country (gl)'),
      language: z
        .string()
        .regex(/^[a-z]{2}$/i, 'two-letter language code')
        .optional()
        .describe('ISO 639-1 language (hl)'),
      max_results: z.number().int().min(1).max(10).default(10).describe('How many results at most (1–10)'),
    })
    .strict(),
  output: z.object({
    query: z.string(),
    results: z.array(z.object({ position: z.number(), title: z.string(), link: z.string(), snippet: z.string() })),
  }),
  mcpScope: 'tools:web_search',
  timeoutMs: 15_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: false },
  async run(ctx, args) {
    const { baseUrl, style } = ctx.services.scavio;
    // The tenant's own key (sealed, set with `tenant set-scavio-key`) when it has one, else the operator's.
    const apiKey = ctx.tenant.scavioKeySealed ? ctx.services.scavio.tenantKey(ctx.tenant.id, ctx.tenant.scavioKeySealed) : ctx.services.scavio.apiKey;
    if (!apiKey) {
      throw new AppError('unavailable', 'tool_unavailable', 'web_search is unavailable: the operator has not configured a Scavio API key (SCAVIO_API_KEY)', {
        expose: true,
        retryable: false,
      });
    }
    // Default: the current SDK form (POST /api/v2/google, Bearer). `v1-search` keeps the walkthrough's form.
    const request: { url: string; headers: Record<string, string>; body: unknown } =
      style === 'v2'
        ? {
            url: `${baseUrl}/api/v2/google`,
            headers: { authorization: `Bearer ${apiKey}` },
            body: { query: args.query, start: (args.page - 1) * 10, gl: args.country?.toLowerCase(), hl: args.language?.toLowerCase() },
          }
        : { url: `${baseUrl}/api/v1/search`, headers: { 'x-api-key': apiKey }, body: { platform: 'google', query: args.query } };
    const res = await ctx.services.egress.request(request.url, {
      method: 'POST',
      headers: { ...request.headers, 'content-type': 'application/json', 'x-client-source': 'mcprt' },
      body: JSON.stringify(request.body),
      signal: ctx.signal,
      service: 'Scavio',
    });
    const body = await res.json();
    if (res.status !== 200) {
      const err = scavioError.safeParse(body);
      const detail = err.success ? (typeof err.data.error === 'string' ? err.data.error : err.data.error.code) : undefined;
      throw upstreamStatusError('Scavio', res.status, { detail, retryAfter: res.headers.get('retry-after') });
    }
    const parsed = scavioResponse.safeParse(body);
    if (!parsed.success)
      throw new AppError('upstream', 'upstream_bad_response', 'Scavio returned an unexpected response shape', { expose: true, retryable: false });
    return {
      query: args.query,
      results: parsed.data.organic_results
        .slice(0, args.max_results)
        .map((r) => ({ position: r.position, title: r.title, link: r.link, snippet: r.snippet ?? '' })),
    };
  },
});
