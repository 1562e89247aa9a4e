import { runMain } from '@mcprt/bootstrap';
import { loadConfig } from '@mcprt/config';
import { startApi } from './server.js';

await runMain(() => startApi(loadConfig(process.env, 'api')), { stopping: 'api stopping' });
