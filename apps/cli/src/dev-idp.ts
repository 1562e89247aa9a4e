import type * as DevIdp from '@mcprt/dev-idp';
import { CliError } from './resources.js';

/**
 * The development IdP package, for the `dev` commands only. Loaded on demand: it is a development
 * dependency of the CLI (a production install leaves it out), and it brings oidc-provider with it,
 * which the other commands should not load.
 */
export async function loadDevIdp(): Promise<typeof DevIdp> {
  try {
    return await import('@mcprt/dev-idp');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new CliError(
        'the dev commands need the development IdP package (@mcprt/dev-idp), which this install leaves out: run them from a development checkout',
      );
    }
    throw e;
  }
}
