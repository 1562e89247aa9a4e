/** Thrown when something tries to start the dev IdP in a production process. */
export class DevIdpRefusedError extends Error {
  override readonly name = 'DevIdpRefusedError';

  constructor() {
    super('dev IdP refused in production: it mints tokens for any account on request');
  }
}

/**
 * The dev IdP signs tokens for any listed account without a login and serves `POST /dev/mint`.
 * Packages never read `process.env` (config is parsed once per app); this guard is the one
 * exception on purpose: it must hold even when a caller forgets to pass the environment in, so it
 * reads `NODE_ENV` itself at the last possible moment.
 */
export function assertNotProduction(env: NodeJS.ProcessEnv = process.env): void {
  if (env['NODE_ENV'] === 'production') {
    throw new DevIdpRefusedError();
  }
}
