import { runMain } from '@mcprt/bootstrap';
import { loadConfig } from '@mcprt/config';
import { startWorker } from './server.js';

await runMain(() => startWorker(loadConfig(process.env, 'worker')), {
  stopping: 'worker draining: no new jobs, finishing active ones',
  stopped: 'worker stopped cleanly',
});
