import { ensureDatabase, runMigrations } from './migrate.js';

// `pnpm migrate`: the one command that creates the database if needed and applies migrations.
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/mcprt';
await ensureDatabase(url);
await runMigrations(url);
console.log(`migrations applied to ${new URL(url).pathname.slice(1)}`);
