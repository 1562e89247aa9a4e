export { ConfigError, egressAllowsPrivate, loadConfig } from './load-config.js';
export type { Config } from './load-config.js';
