export { CALL_ID_PATTERN, CALL_ID_PREFIX, callIdSchema, isCallId, newCallId, parseCallId } from './call-id.js';
export type { CallId } from './call-id.js';
export {
  CALL_STATES,
  CALL_STATUSES,
  CALL_TRANSITIONS,
  canMove,
  FINAL_STATUSES,
  isFinal,
  isPending,
  OPEN_STATUSES,
  openSql,
  PENDING_SQL,
  PENDING_STATUSES,
  pendingSql,
} from './call-states.js';
export type { CallStatus, FinalStatus, PendingStatus } from './call-states.js';
export { toolCalls, toolCallStatus } from './schema.js';
export type { ToolCall, ToolCallError } from './schema.js';
export { callStatements } from './call-statements.js';
export type { CallStatements } from './call-statements.js';
export { applyOutcome, BELL_OUTCOME_MAX_BYTES, CALL_DONE_CHANNEL, callOutcomeSchema } from './statements/bell.js';
export type { CallOutcomeBell } from './statements/bell.js';
export { STALE_RESULT_DISCARDED } from './statements/end.js';
export type { CancelStatementInput, CancelStatementOutcome } from './statements/end.js';
export type { ApprovalDecisionInput, ApprovalDecisionOutcome } from './statements/approve.js';
export type { RecordCallInput, RecordCallResult } from './statements/record.js';
export type { FinishInput } from './statements/settle.js';
export type { NewToolCall } from './tool-calls.js';
export { findStaleQueuedCalls, findStaleRunningCalls, oldestPendingCalls } from './call-recovery.js';
export { awaitingTenantApproval, callHistory, pendingCallsSummary, tenantCallsByAge } from './call-history.js';
export type { AwaitingApproval, CallFilter, CallPageRow } from './call-history.js';
export { CompletionWaiter, eitherAborted } from './completion.js';
export type { BellSource } from './completion.js';
export { jobPayloadV1, parseJobPayload } from './job-payload.js';
export type { JobPayload } from './job-payload.js';
export { isStalledOut, jobEndError } from './job-end.js';
export { isAnnouncedJob, TOOL_CALLS_QUEUE } from './names.js';
export { createProducer, sampleQueue } from './producer.js';
export type { Producer, ProducerOptions } from './producer.js';
export { cancelChannel, CancelListener, publishCancel } from './cancel-channel.js';
export type { CancelMessage } from './cancel-channel.js';
export { forTenant, withCallStatements } from './tenant-scope.js';
export type { CallsDb, TenantScope } from './tenant-scope.js';
export { callAccess, mayRead, readableCall, visibleCalls } from './access.js';
export { awaitCall } from './await.js';
export type { AwaitDeps, AwaitOptions } from './await.js';
export { cancelCall, cancelUserCall } from './cancel.js';
export type { CancelActor, CancelCallInput, CancelCallOutcome, CancelDeps, UserCancelRequest } from './cancel.js';
export { connectLinkOf } from './connect-link.js';
export type { ConnectLink } from './connect-link.js';
export { enqueueCall } from './enqueue.js';
export type { EnqueueDeps } from './enqueue.js';
export { buildJobPayload, JOB_MISMATCH, JOB_PAYLOAD_INVALID, jobMismatch, refuseJob } from './job-binding.js';
export type { RefuseJobDeps } from './job-binding.js';
export { reconcileOnce } from './recover.js';
export type { RecoverDeps } from './recover.js';
export { submitCall } from './submit.js';
export type { RateVerdict, SubmitDeps, SubmitInput, SubmitOutcome } from './submit.js';
export { decideCallApproval } from './approval.js';
export type { ApprovalActor, ApprovalDeps, DecideCallApprovalInput } from './approval.js';
export { answerTaskInput, pendingInput } from './task-input.js';
export type { PendingInput, TaskInputDeps, TaskInputOutcome } from './task-input.js';
export { CallLogFollower } from './call-logs.js';
