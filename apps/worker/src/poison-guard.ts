import { Worker, type Job, type JobJson } from 'bullmq';

/** What a job's data becomes when its Redis record does not parse: the payload check refuses it. */
const UNREADABLE_JOB_DATA = '[unreadable job record]';

/**
 * A BullMQ worker that survives a job whose Redis record is corrupt (its `data` or `opts` is not
 * JSON). BullMQ parses the record after moving the job to active and before tracking its lock; a
 * parse error there is only an 'error' event, the lock lapses, the stall check hands the job back,
 * and its deferred stall failure is never applied because that, too, needs the parsed job: the job
 * cycles every stall interval forever. Here the unreadable parts are replaced, so the
 * processor sees the job, refuses its payload and fails it at once (UnrecoverableError, audited on
 * the call its job id names).
 */
export class PoisonTolerantWorker extends Worker {
  protected override createJob(data: JobJson, jobId: string): Job {
    try {
      return super.createJob(data, jobId);
    } catch {
      // On the wire both fields are JSON text (BullMQ's JobJson types `opts` as already parsed).
      const raw = data as unknown as { opts?: unknown };
      let opts: unknown = raw.opts;
      try {
        if (typeof opts === 'string') JSON.parse(opts);
      } catch {
        opts = '{}';
      }
      return super.createJob({ ...data, data: JSON.stringify(UNREADABLE_JOB_DATA), opts } as unknown as JobJson, jobId);
    }
  }
}
