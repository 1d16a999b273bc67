// One writer of part 7c (bench/pg.mjs): opens the store of the built Medic (dist/) on a PostgreSQL
// URL and calls recordBeats with `batch` beats per call (one transaction each) for `seconds`
// seconds after a go line on stdin; prints { beats, latencies } as JSON.
// Usage: node bench/pg-ingest-worker.mjs <dist> <postgres-url> <slug,slug,…> <batch> <seconds> <offset>
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [dist, url, slugsCsv, batch, seconds, offset] = process.argv.slice(2);
// The store's chunk (src/store/index.ts, imported lazily by the CLI) has a content hash in its name.
const file = readdirSync(dist).find((f) => /^store-[A-Z0-9]+\.js$/.test(f));
const { openStore } = await import(pathToFileURL(join(dist, file)).href);
const store = await openStore(storeConfig(url), { uid: process.getuid(), gid: process.getgid() });
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
  for (let k = 0; k < n; k++) list.push({ slug: slugs[i++ % slugs.length] });
  const t = performance.now();
  await store.recordBeats(list);
  latencies.push(performance.now() - t);
  beats += n;
}
await store.close();
process.stdout.write(`${JSON.stringify({ beats, latencies })}\n`);
process.stdin.destroy();

/** What openStore takes for a database URL (src/store/index.ts StoreConfig). */
function storeConfig(databaseUrl) {
  return { databasePath: '', databaseUrl };
}
