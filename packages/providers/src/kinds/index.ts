import { githubKind } from './github.js';
import { googleKind } from './google.js';
import { UPSTREAM_KINDS, type ProviderKind, type UpstreamKind } from './kind.js';
import { oidcKind } from './oidc.js';

/** The one registry of provider kinds: every other module asks it instead of switching on the kind. */
const KINDS: Readonly<Record<UpstreamKind, ProviderKind>> = { oidc: oidcKind, google: googleKind, github: githubKind };

export const isUpstreamKind = (k: string): k is UpstreamKind => (UPSTREAM_KINDS as readonly string[]).includes(k);

/** The implementation of `kind`. */
export const providerKind = (kind: UpstreamKind): ProviderKind => KINDS[kind];
