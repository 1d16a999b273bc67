/**
 * [scale] `medic status` says which host ran the last check: "last check 3s ago by host-b" under
 * the table, `lastCheckAt` and `lastCheckBy` on every `--json` row. The check runs on a host of
 * its own (test/helpers/hosts.ts); status runs on this machine.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KEY, medic } from '../helpers/faults.js';
import { onHost, requireHosts } from '../helpers/hosts.js';
import { freshDatabase } from '../helpers/pg.js';

beforeAll(() => requireHosts());

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function project(database: string): string {
  dir = mkdtempSync(join(tmpdir(), 'medic-status-checker-'));
  const path = join(dir, 'medic.config.json');
  writeFileSync(
    path,
    JSON.stringify({
      database,
      // Never contacted: nothing is due.
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: 'backup', interval: '1h' }, { slug: 'sync', interval: '1h' }],
    }),
  );
  return path;
}

const env = { PAGERDUTY_ROUTING_KEY: KEY };
const run = (config: string, args: string[], host?: string) => medic(['--config', config, ...args], { cwd: dir, env, ...(host && { prefix: onHost(host) }) });

describe.each([
  ['SQLite', async () => 'medic.db'],
  ['PostgreSQL', freshDatabase],
])('medic status on %s: who ran the last check', (_store, database) => {
  it('before any check: no host, and the line that says so; after a check on host-b: "by host-b" and the same on every --json row', { timeout: 60_000 }, async () => {
    const config = project(await database());
    const before = await run(config, ['status']);
    expect(before, before.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(before.stdout).toContain('medic check has not run yet');
    const beforeRows = JSON.parse((await run(config, ['status', '--json'])).stdout) as Record<string, unknown>[];
    expect(beforeRows.map((r) => [r.slug, r.lastCheckAt, r.lastCheckBy])).toEqual([
      ['backup', null, null],
      ['sync', null, null],
    ]);

    const checkedFrom = Date.now();
    expect(await run(config, ['check'], 'host-b')).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const checkedTo = Date.now();

    const after = await run(config, ['status'], 'host-c');
    expect(after, after.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(after.stdout).toMatch(/\nlast check \d+s ago by host-b\n$/);
    const rows = JSON.parse((await run(config, ['status', '--json'])).stdout) as { slug: string; lastCheckAt: string; lastCheckBy: string }[];
    expect(rows.map((r) => [r.slug, r.lastCheckBy])).toEqual([
      ['backup', 'host-b'],
      ['sync', 'host-b'],
    ]);
    expect(rows[0]!.lastCheckAt).toBe(rows[1]!.lastCheckAt);
    // On PostgreSQL the database's clock: the same machine here, so within the run.
    expect(Date.parse(rows[0]!.lastCheckAt)).toBeGreaterThanOrEqual(checkedFrom - 1_000);
    expect(Date.parse(rows[0]!.lastCheckAt)).toBeLessThanOrEqual(checkedTo + 1_000);

    // The next check from another host is the one shown.
    expect(await run(config, ['check'], 'host-a')).toMatchObject({ code: 0, stderr: '' });
    expect((await run(config, ['status'])).stdout).toMatch(/\nlast check \d+s ago by host-a\n$/);
  });
});

describe('medic status: the last checker as the database holds it', () => {
  it('a host name planted in the database with escape codes is shown escaped; --json keeps it exact', { timeout: 60_000 }, async () => {
    const config = project('medic.db');
    expect(await run(config, ['check'])).toMatchObject({ code: 0, stderr: '' });
    const planted = '7@evil\u001b]0;pwned\u0007\u001b[2J\rmedic: ok';
    const db = new Database(join(dir, 'medic.db'));
    db.prepare('UPDATE checker SET last_run_by = ?').run(planted);
    db.close();
    const human = await run(config, ['status']);
    expect(human.stdout).toContain('by evil\\x1b]0;pwned\\x07\\x1b[2J\\rmedic: ok\n');
    expect(human.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    const rows = JSON.parse((await run(config, ['status', '--json'])).stdout) as { lastCheckBy: string }[];
    expect(rows[0]!.lastCheckBy).toBe('evil\u001b]0;pwned\u0007\u001b[2J\rmedic: ok');
  });

});
