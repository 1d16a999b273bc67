/**
 * The SQLite path keeps its start-up cost: the quick `medic beat` (dist/quick-beat.cjs, what
 * bin/medic runs first) never loads pg for a SQLite config, and hands a PostgreSQL config to the
 * full CLI untouched (it declines, and loads nothing of pg either).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/db.js';

const QUICK = fileURLToPath(new URL('../../dist/quick-beat.cjs', import.meta.url));

/** Runs quickBeat in a fresh Node with `database`; says whether it recorded the beat and whether pg was loaded. */
function quickBeatIn(database: string): { done: boolean; pgLoaded: boolean } {
  const dir = tempDir();
  const config = join(dir, 'medic.config.json');
  writeFileSync(config, JSON.stringify({ database, services: [{ slug: 'job' }] }));
  const script = `
    const { quickBeat } = require(${JSON.stringify(QUICK)});
    quickBeat('job', { path: ${JSON.stringify(config)}, env: {}, cwd: ${JSON.stringify(dir)}, uid: process.geteuid(), gid: process.getegid(), now: Date.now, pid: process.pid })
      .then((done) => console.log(JSON.stringify({ done, pgLoaded: Object.keys(require.cache).some((k) => /node_modules[\\\\/]pg[\\\\/]/.test(k)) })));
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: dir });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

describe('pg is loaded only for a PostgreSQL database', () => {
  it.each([
    ['a SQLite file: recorded on the quick path, without pg', 'medic.db', { done: true, pgLoaded: false }],
    ['a PostgreSQL URL: left to the full CLI, without loading pg here', 'postgres://medic@127.0.0.1:1/medic', { done: false, pgLoaded: false }],
  ])('%s', (_label, database, expected) => {
    expect(quickBeatIn(database)).toEqual(expected);
  });
});
