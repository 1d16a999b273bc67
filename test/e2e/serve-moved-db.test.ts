/**
 * `medic serve` whose SQLite file is moved or replaced under it (the new-user walk of issue 12): the
 * real bin/medic serve and bin/medic beat / status on loopback. Serve never records into, nor shows,
 * the orphaned file: /healthz, /status, /metrics and beats answer 503 until the file is back at its
 * path or serve is restarted, and the journal says why.
 */
import { mkdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { medic } from '../helpers/cli.js';
import { query } from '../helpers/db.js';
import { configFor, ROUTING_KEY, startServe, type Serve } from '../helpers/serve.js';

/** What /healthz says then (the path is not in it: anyone who reaches /healthz reads it). */
const MOVED_BODY = 'database not writable: the database file was moved or replaced; restart medic serve';

/** Polls `ok` every 100 ms for up to 10 s. */
async function until(ok: () => Promise<boolean>): Promise<void> {
  for (const t0 = Date.now(); !(await ok()); ) {
    if (Date.now() - t0 > 10_000) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function answers(s: Serve): Promise<Record<string, [number, string | null]>> {
  const get = async (url: string) => {
    const res = await fetch(url);
    const body = await res.text();
    return [res.status, res.status === 200 && !url.endsWith('/healthz') && !url.includes('/ping/') ? null : body] as [number, string | null];
  };
  return {
    healthz: await get(`${s.url}/healthz`),
    status: await get(`${s.url}/status`),
    metrics: await get(`${s.url}/metrics`),
    beat: await get(`${s.base}/backup`),
  };
}

const HEALTHY = { healthz: [200, 'OK'], status: [200, null], metrics: [200, null], beat: [200, 'OK'] };
const UNAVAILABLE = 'database unavailable, try again';
const REFUSING = { healthz: [503, MOVED_BODY], status: [503, UNAVAILABLE], metrics: [503, UNAVAILABLE], beat: [503, UNAVAILABLE] };

const beatsIn = (db: string) => query<{ n: number }>(db, "SELECT count(*) AS n FROM beats WHERE slug = 'backup'")[0]!.n;

describe('medic serve: the database file moved or replaced under it', () => {
  it('answers 503 everywhere (beats not acknowledged) while the path names another thing, heals when the file is put back, and a restart opens the new database', async () => {
    const s = await startServe(configFor());
    const healthz = async () => (await fetch(`${s.url}/healthz`)).status;
    expect(await answers(s)).toEqual(HEALTHY);
    expect(beatsIn(s.db)).toBe(1);

    // Moved away: the open connection could still write, into a file nobody reads.
    const moved = join(s.dir, 'medic.db.moved');
    renameSync(s.db, moved);
    // /healthz within HEALTH_CACHE_MS; /status may show the page rendered before the move for up to STATUS_CACHE_MS.
    await until(async () => (await healthz()) === 503);
    expect((await answers(s)).healthz).toEqual(REFUSING.healthz);
    await until(async () => JSON.stringify(await answers(s)) === JSON.stringify(REFUSING));
    const retry = await fetch(`${s.base}/backup`);
    expect(retry.headers.get('retry-after')).toBe('5');
    expect(s.stderr()).toMatch(/beats could not be recorded, answered 503: database \S+medic\.db was moved or replaced while medic had it open: nothing is at its path any more/);

    // Put back: the same file again, so serve goes on.
    renameSync(moved, s.db);
    await until(async () => (await healthz()) === 200);
    expect(await answers(s)).toEqual(HEALTHY);
    expect(beatsIn(s.db)).toBe(2);

    // A folder at the path (the walk: /healthz said OK and /status showed the old data).
    for (const f of ['medic.db', 'medic.db-wal', 'medic.db-shm']) rmSync(join(s.dir, f), { force: true });
    mkdirSync(s.db);
    await until(async () => (await healthz()) === 503);
    await until(async () => JSON.stringify(await answers(s)) === JSON.stringify(REFUSING));
    const status = await medic(['status', '--config', join(s.dir, 'medic.config.json')], { cwd: s.dir, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY } });
    expect([status.code, status.stderr]).toEqual([74, expect.stringMatching(/it is not a regular file/)]);

    // A new valid database at the path (a `medic beat` made it): still not the file serve opened.
    rmdirSync(s.db);
    const beat = await medic(['beat', 'backup', '--config', join(s.dir, 'medic.config.json')], { cwd: s.dir, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY } });
    expect([beat.code, beat.stderr]).toEqual([0, '']);
    await new Promise((r) => setTimeout(r, 1600)); // past the cached /healthz answer
    expect(await answers(s)).toEqual(REFUSING);
    expect(s.stderr()).not.toMatch(/internal error/);
    expect(beatsIn(s.db)).toBe(1);

    // A restart opens what is at the path now.
    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    const again = await startServe(configFor(), { dir: s.dir });
    expect(await answers(again)).toEqual(HEALTHY);
    expect(beatsIn(s.db)).toBe(2);
  }, 60_000);
});
