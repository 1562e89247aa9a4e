export { processCall } from './process-call.js';
export type { Attempt, CallOutcome } from './process-call.js';
export { createWorkerResources } from './resources.js';
export type { WorkerResources } from './resources.js';
export { startWorker } from './server.js';
export type { RunningWorker } from './server.js';
export { startToolWorker } from './worker.js';
export { stuckFor, watchFetchLoop } from './fetch-watch.js';
export type { RunHooks, WatchedWorker } from './fetch-watch.js';
