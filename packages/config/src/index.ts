export { ConfigError, egressAllowsPrivate, loadConfig, redactedConfig } from './load-config.js';
export type { Config } from './load-config.js';
