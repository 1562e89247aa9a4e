import type { ProviderKind } from './kind.js';
import { oidcKind } from './oidc.js';

const GOOGLE_ISSUER = 'https://accounts.google.com';

/**
 * Google: OpenID Connect by discovery, as `oidc`, plus what its authorize request needs. Google issues
 * a refresh token only with `access_type=offline` and `prompt=consent`, and `include_granted_scopes`
 * makes the new token carry the scopes granted before too (incremental authorization).
 */
export const googleKind: ProviderKind = {
  ...oidcKind,
  kind: 'google',
  settings: { ...oidcKind.settings, label: 'Google', defaultIssuer: GOOGLE_ISSUER, publicLoginClient: false },
  authorizeParams: () => ({ access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' }),
};
