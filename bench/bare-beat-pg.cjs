// The PostgreSQL floor `medic beat` on PostgreSQL is measured against: load node-postgres, connect
// (trust authentication on loopback), insert one beats row, end. No config, no CLI, no migration
// check. CommonJS, like Medic's beat path.
// Usage: node bench/bare-beat-pg.cjs <postgres-url> <slug>
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- CommonJS on purpose, like Medic's beat path
const { Client } = require('pg');

const [url, slug] = process.argv.slice(2);
const client = new Client({ connectionString: url });
client
  .connect()
  .then(() => client.query('INSERT INTO beats (slug, at) VALUES ($1, $2)', [slug, Date.now()]))
  .then(() => client.end())
  .catch((err) => {
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  });
