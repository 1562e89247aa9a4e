// Preload for the benchmark's worker process (`--cpu-prof` is not allowed in NODE_OPTIONS, `--import` is):
// samples the main thread with the inspector and writes BENCH_CPU_PROF_DIR/<BENCH_CPU_PROF_NAME>-<pid>.cpuprofile on exit.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // The same-thread inspector session answers synchronously, so this works inside 'exit'.
    session.post('Profiler.stop', (err, res) => {
      if (!err && res) writeFileSync(join(dir, `${process.env.BENCH_CPU_PROF_NAME ?? 'app'}-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
