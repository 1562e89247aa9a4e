export { coalesceWrites } from './coalesce-writes.js';
export { CompletionWaiter, eitherAborted } from './completion.js';
export type { BellSource } from './completion.js';
export { jobPayloadV1, parseJobPayload } from './job-payload.js';
export type { JobPayload } from './job-payload.js';
export { TOOL_CALLS_QUEUE } from './names.js';
export { createProducer } from './producer.js';
export type { Producer, ProducerOptions } from './producer.js';
