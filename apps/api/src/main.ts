import { loadConfig } from '@mcprt/config';
import { startApi } from './server.js';

const config = loadConfig(process.env);
const api = await startApi(config);
let stopping = false;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    api.resources.log.info({ signal: sig }, 'api stopping');
    api
      .stop()
      .then(() => {
        api.resources.log.flush();
        process.exit(0);
      })
      .catch(() => process.exit(1));
  });
}
