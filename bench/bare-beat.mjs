// The floor `medic beat` is measured against: open the same WAL database with better-sqlite3 and
// insert one beat row. No config, no CLI parsing, no migration check. It commits with the same
// durability as Medic's store (WAL, synchronous=NORMAL: no fsync at commit), so the two do the
// same I/O and the ratio measures Medic's own overhead.
// Usage: node bench/bare-beat.mjs <database> <slug>
import Database from 'better-sqlite3';

const [path, slug] = process.argv.slice(2);
const db = new Database(path, { timeout: 15_000 });
db.pragma('synchronous = NORMAL');
db.prepare('INSERT INTO beats (slug, at) VALUES (?, ?)').run(slug, Date.now());
db.close();
