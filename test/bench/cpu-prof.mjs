// Preload for the benchmark's API and worker processes (`--cpu-prof` is not allowed in NODE_OPTIONS,
// `--import` is): drives the inspector of the main thread and, on exit, writes
//   BENCH_CPU_PROF_DIR/<BENCH_CPU_PROF_NAME>-<pid>.cpuprofile    (CPU samples every 0.5 ms), and/or
//   BENCH_ALLOC_PROF_DIR/<BENCH_CPU_PROF_NAME>-<pid>.heapprofile (allocation samples, every 32 kB on average,
//   objects collected since included: where the young generation's garbage comes from).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const cpuDir = process.env.BENCH_CPU_PROF_DIR;
const allocDir = process.env.BENCH_ALLOC_PROF_DIR;
const name = `${process.env.BENCH_CPU_PROF_NAME ?? 'app'}-${process.pid}`;
if (cpuDir || allocDir) {
  const session = new Session();
  session.connect();
  if (cpuDir) {
    session.post('Profiler.enable');
    session.post('Profiler.setSamplingInterval', { interval: 500 });
    session.post('Profiler.start');
  }
  if (allocDir) {
    session.post('HeapProfiler.enable');
    session.post('HeapProfiler.startSampling', { samplingInterval: 32_768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  process.on('exit', () => {
    // The same-thread inspector session answers synchronously, so this works inside 'exit'.
    if (cpuDir) {
      session.post('Profiler.stop', (err, res) => {
        if (!err && res) writeFileSync(join(cpuDir, `${name}.cpuprofile`), JSON.stringify(res.profile));
      });
    }
    if (allocDir) {
      session.post('HeapProfiler.stopSampling', (err, res) => {
        if (!err && res) writeFileSync(join(allocDir, `${name}.heapprofile`), JSON.stringify(res.profile));
      });
    }
  });
}
