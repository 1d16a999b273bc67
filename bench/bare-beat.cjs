// The floor `medic beat` is measured against: open the same WAL database with better-sqlite3 and
// insert one beat row. No config, no CLI parsing, no migration check. Like Medic's beat path it is
// CommonJS and hands better-sqlite3 its addon's path (no `bindings` search), and it commits with
// the same durability as Medic's store (WAL, synchronous=NORMAL: no fsync at commit), so the two
// load and write alike and the ratio measures Medic's own overhead.
// Usage: node bench/bare-beat.cjs <database> <slug>
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS on purpose, like Medic's beat path
const Database = require('better-sqlite3');

const [path, slug] = process.argv.slice(2);
const db = new Database(path, { timeout: 15_000, nativeBinding: require.resolve('better-sqlite3/build/Release/better_sqlite3.node') });
db.pragma('synchronous = NORMAL');
db.prepare('INSERT INTO beats (slug, at) VALUES (?, ?)').run(slug, Date.now());
db.close();
