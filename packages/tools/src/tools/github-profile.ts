import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { githubUserOf } from '../github-user.js';
import { defineTool } from '../tool.js';

/**
 * Test-only: a tool that needs a *connected* GitHub account with more than the sign-in
 * scopes (`repo`), so a test can drive "call → connect link (URL elicitation) → connect → call succeeds"
 * and the scope upgrade. It returns the GitHub login and the scopes GitHub says the token carries.
 */
export const githubProfile = defineTool({
  name: 'github_profile',
  title: 'GitHub profile (test)',
  description: 'Test tool: your connected GitHub login and the scopes of your GitHub token.',
  input: z.object({}).strict(),
  output: z.object({ login: z.string(), id: z.number().int(), tokenScopes: z.array(z.string()) }),
  mcpScope: 'tools:github_profile',
  upstream: { provider: 'github', scopes: ['read:user', 'repo'] },
  timeoutMs: 10_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: true },
  testOnly: true,
  async run(ctx) {
    const cred = ctx.credential;
    if (!cred) throw new AppError('policy', 'credential_missing', 'no GitHub credential for this user');
    const apiBase = ctx.tenant.apiBase('github');
    if (!apiBase) throw new AppError('upstream', 'provider_not_configured', 'this tenant has no GitHub provider', { expose: true });
    const { user, scopes } = await githubUserOf(ctx, apiBase, cred.accessToken);
    return { login: user.login, id: user.id, tokenScopes: scopes ?? cred.scopes };
  },
});
