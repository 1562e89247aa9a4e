export { startLoop } from './loop.js';
export type { Loop, LoopOptions } from './loop.js';
export { serveMetrics } from './metrics-server.js';
export type { MetricsServer } from './metrics-server.js';
export { createProcessBase, openProcess } from './process.js';
export type { ProcessBase, ProcessName, ProcessOptions } from './process.js';
export { runMain } from './run-main.js';
export type { RunningProcess } from './run-main.js';
export { startProcessTracing } from './tracing.js';
