/**
 * Why a call failed when its job ended without a final write of the call: BullMQ failed the
 * job because it stalled more than JOB_MAX_STALLED times (a poison job: it kills or wedges the worker
 * that runs it), or the job ended some other way (`job_lost`, retryable). Decided from the job's
 * `failedReason`, by the worker that saw the failure and by the API's reconciler (whichever comes first;
 * the call's write is `failIfNotFinal`, so only one applies).
 */
const STALLED_OUT = /stalled more than allowable limit/;

export const isStalledOut = (failedReason: string | undefined): boolean => STALLED_OUT.test(failedReason ?? '');

export function jobEndError(failedReason: string | undefined): { code: string; message: string; retryable: boolean } {
  return isStalledOut(failedReason)
    ? { code: 'job_poisoned', message: 'the call stalled its worker repeatedly and was stopped', retryable: false }
    : { code: 'job_lost', message: 'the call could not be completed; please retry', retryable: true };
}
