import { describe, expect, it } from 'vitest';
import { stuckFor } from './fetch-watch.js';

const WEDGE = 10_000;
const look = (o: Partial<Parameters<typeof stuckFor>[0]>) =>
  stuckFor({ now: 100_000, lastStartAt: 0, running: 0, concurrency: 4, waitingJobs: 3, waitingSince: undefined, ...o }, WEDGE);

describe('stuckFor: when an idle worker with jobs waiting has a stuck fetch loop', () => {
  it('starts the clock at the first look that sees jobs waiting, and calls it stuck only once they have waited the whole time', () => {
    expect(look({})).toEqual({ waitingSince: 100_000, stuck: false });
    expect(look({ waitingSince: 100_000 - WEDGE + 1 })).toEqual({ waitingSince: 100_000 - WEDGE + 1, stuck: false });
    expect(look({ waitingSince: 100_000 - WEDGE })).toEqual({ waitingSince: 100_000 - WEDGE, stuck: true });
  });

  it('is never stuck while busy, while it started a job lately, with nothing waiting, or when Redis could not be read', () => {
    const long = { waitingSince: 0 };
    expect(look({ ...long, running: 4 })).toEqual({ waitingSince: undefined, stuck: false });
    expect(look({ ...long, lastStartAt: 100_000 - WEDGE + 1 })).toEqual({ waitingSince: undefined, stuck: false });
    expect(look({ ...long, waitingJobs: 0 })).toEqual({ waitingSince: undefined, stuck: false });
    expect(look({ ...long, waitingJobs: undefined })).toEqual({ waitingSince: undefined, stuck: false });
  });

  it('counts the wait from the last job it started when that is later than the first look', () => {
    // Jobs seen waiting since 50 000, but a job started at 85 000: the loop worked then.
    expect(look({ waitingSince: 50_000, lastStartAt: 85_000 })).toEqual({ waitingSince: 85_000, stuck: true });
    expect(look({ waitingSince: 50_000, lastStartAt: 90_001 - WEDGE })).toEqual({ waitingSince: 90_001 - WEDGE, stuck: true });
  });
});
