// One writer of part 8c (bench/pg.mjs): `store` opens the store of the built Medic (dist/) on a
// PostgreSQL URL and calls recordBeats with `batch` beats per call (one transaction each); `bare`
// is the floor: node-postgres alone, the same batch as two set-based statements in one transaction
// (a multi-row INSERT into beats and one upsert of services). Either runs for `seconds` seconds
// after a go line on stdin and prints { beats, latencies } as JSON.
// Usage: node bench/pg-ingest-worker.mjs <store|bare> <dist> <postgres-url> <slug,slug,…> <batch> <seconds> <offset>
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import pg from 'pg';

const [mode, dist, url, slugsCsv, batch, seconds, offset] = process.argv.slice(2);
const record = mode === 'bare' ? await bare(url) : await store(dist, url);
const slugs = slugsCsv.split(',');
const n = Number(batch);
const latencies = [];
let beats = 0;
let i = Number(offset);
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const end = performance.now() + Number(seconds) * 1000;
while (performance.now() < end) {
  const list = [];
  for (let k = 0; k < n; k++) list.push(slugs[i++ % slugs.length]);
  const t = performance.now();
  await record.write(list);
  latencies.push(performance.now() - t);
  beats += n;
}
await record.close();
process.stdout.write(`${JSON.stringify({ beats, latencies })}\n`);
process.stdin.destroy();

async function store(distDir, databaseUrl) {
  // The store's chunk (src/store/index.ts, imported lazily by the CLI) has a content hash in its name.
  const file = readdirSync(distDir).find((f) => /^store-[A-Z0-9]+\.js$/.test(f));
  const { openStore } = await import(pathToFileURL(join(distDir, file)).href);
  const s = await openStore({ databasePath: '', databaseUrl }, { uid: process.getuid(), gid: process.getgid() });
  return { write: (list) => s.recordBeats(list.map((slug) => ({ slug }))), close: () => s.close() };
}

async function bare(databaseUrl) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    async write(list) {
      const now = Date.now();
      const ats = list.map(() => now);
      await client.query('BEGIN');
      await client.query('INSERT INTO beats (slug, at) SELECT * FROM unnest($1::text[], $2::bigint[])', [list, ats]);
      await client.query(
        `INSERT INTO services (slug, registered_at, last_beat_at, beat_seq)
         SELECT slug, max(at), max(at), count(*) FROM unnest($1::text[], $2::bigint[]) AS u(slug, at) GROUP BY slug ORDER BY slug
         ON CONFLICT (slug) DO UPDATE SET last_beat_at = excluded.last_beat_at, beat_seq = services.beat_seq + excluded.beat_seq`,
        [list, ats],
      );
      await client.query('COMMIT');
    },
    close: () => client.end(),
  };
}
