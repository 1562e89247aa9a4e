import { loadConfig } from '@mcprt/config';
import { startWorker } from './server.js';

const config = loadConfig(process.env);
const worker = await startWorker(config);
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    worker.resources.log.info({ signal: sig }, 'worker draining: no new jobs, finishing active ones');
    worker
      .stop()
      .then(() => {
        worker.resources.log.info('worker stopped cleanly');
        worker.resources.log.flush();
        process.exit(0);
      })
      .catch(() => process.exit(1));
  });
}
