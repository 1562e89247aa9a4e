import { defineConfig } from 'drizzle-kit';

// Run drizzle-kit from packages/db (it resolves paths from the working directory).
export default defineConfig({
  dialect: 'postgresql',
  // The tool-call engine owns the tool_calls table (packages/calls/src/schema.ts: it derives the
  // status enum and the pending index from its state table); both files make one schema.
  schema: ['./src/schema.ts', '../calls/src/schema.ts'],
  out: './migrations',
  // The owner role: drizzle-kit's own database commands change the schema.
  dbCredentials: { url: process.env.MIGRATE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/mcprt' },
});
