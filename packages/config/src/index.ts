export { ConfigError, egressAllowsPrivate, loadConfig, redactedConfig } from './load-config.js';
export type { Config } from './schema.js';
export { VIEWS } from './views.js';
export type { ApiConfig, CliConfig, ConfigView, ConfigViewName, ProcessConfig, TracingConfig, WorkerConfig } from './views.js';
