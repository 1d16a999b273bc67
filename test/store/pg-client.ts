import pg from 'pg';
import { onTestFinished } from 'vitest';

/** A connection of the test's own (closed when the test finishes), bigint and numeric read as numbers, as the store reads them. */
export async function pgClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    types: { getTypeParser: ((oid: number, format?: 'text') => (oid === 20 || oid === 1700 ? Number : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
  });
  // The test's database is dropped WITH (FORCE) when it finishes: a connection cut then is no error.
  client.on('error', () => {});
  await client.connect();
  onTestFinished(() => client.end().catch(() => {}));
  return client;
}
