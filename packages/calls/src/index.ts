export {
  applyOutcome,
  BELL_OUTCOME_MAX_BYTES,
  CALL_DONE_CHANNEL,
  callOutcomeSchema,
  callStatements,
  isFinal,
  STALE_RESULT_DISCARDED,
} from './call-statements.js';
export type { CallOutcomeBell, CallStatements, FinishInput, RecordCallInput, RecordCallResult } from './call-statements.js';
export { findStaleQueuedCalls } from './tool-calls.js';
export type { NewToolCall, ToolCall } from './tool-calls.js';
export { findStaleRunningCalls, requeueLostRunningCall } from './call-recovery.js';
export { callHistory } from './call-history.js';
export type { CallFilter, CallPageRow } from './call-history.js';
export { CompletionWaiter, eitherAborted } from './completion.js';
export type { BellSource } from './completion.js';
export { jobPayloadV1, parseJobPayload } from './job-payload.js';
export type { JobPayload } from './job-payload.js';
export { isStalledOut, jobEndError } from './job-end.js';
export { TOOL_CALLS_QUEUE } from './names.js';
export { createProducer } from './producer.js';
export type { Producer, ProducerOptions } from './producer.js';
export { cancelChannel, CancelListener, publishCancel } from './cancel-channel.js';
export type { CancelMessage } from './cancel-channel.js';
export { forTenant, withCallStatements } from './tenant-scope.js';
export type { CallsDb, TenantScope } from './tenant-scope.js';
