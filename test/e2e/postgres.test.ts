/**
 * The real `bin/medic` against PostgreSQL (a fresh database on the run's throwaway cluster), in
 * real time: beat, check with a PagerDuty stand-in, status, history, pause, doctor. One clock: the
 * database's, so a host whose clock is years off still beats and checks at the database's time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTING_KEY, statusBySlug, tempProject, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { freshDatabase } from '../helpers/pg.js';

const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pd: PdServer | undefined;
let project: Project | undefined;

afterEach(async () => {
  await pd?.close();
  project?.remove();
  pd = undefined;
  project = undefined;
});

function config(database: string, eventsUrl: string) {
  return {
    database,
    checker: { gapThreshold: '30d' },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl } },
    services: [
      { slug: 'job', name: 'Job', interval: '1s', grace: '8s', threshold: 1 },
      { slug: 'other', interval: '1h' },
    ],
  };
}

describe('medic on PostgreSQL, spawned', { timeout: 120_000 }, () => {
  it('beat, check, a page when it goes quiet, a resolve when it beats again; status and history show it all', async () => {
    pd = await startPdServer();
    const url = await freshDatabase();
    project = tempProject(config(url, pd.url));
    // --config: the quick beat path sees a PostgreSQL URL and hands the beat to the full CLI.
    expect(await project.run(['--config', project.configPath, 'beat', 'job'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['check'], { env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests).toEqual([]);

    await sleep(9500);
    expect(await project.run(['check'], { env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([['trigger', 'medic-heartbeat-job']]);
    const down = (await statusBySlug(project)).get('job');
    expect(down).toMatchObject({ state: 'down', incidentOpen: true, delivery: 'sent' });

    expect(await project.run(['beat', 'job'])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['check'], { env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve']);
    const back = (await statusBySlug(project)).get('job');
    // Up, or already late again (its interval is 1s): no longer down, the incident closed.
    expect(back.incidentOpen).toBe(false);
    expect(['up', 'late']).toContain(back.state);

    const history = await project.run(['history', 'job', '--json']);
    expect(history.code).toBe(0);
    const timeline = JSON.parse(history.stdout);
    expect(JSON.stringify(timeline)).toContain('"down"');
    expect(JSON.stringify(timeline)).toContain('delivered');

    const paused = await project.run(['pause', 'other', '--for', '1h', '--reason', 'disk swap']);
    expect(paused.code).toBe(0);
    expect((await statusBySlug(project)).get('other')).toMatchObject({ state: 'paused', muted: { kind: 'paused', reason: 'disk swap' } });
  });

  it('one clock: a host whose clock is years behind beats, checks and shows status at the database\'s time', async () => {
    pd = await startPdServer();
    const url = await freshDatabase();
    project = tempProject(config(url, pd.url));
    const skewed = { at: '2020-01-01T00:00:00Z' };
    const before = Date.now();
    expect(await project.run(['beat', 'other'], skewed)).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['check'], { ...skewed, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    const row = (await statusBySlug(project, skewed)).get('other');
    // Stamped by the database (now), not by the host (2020); status computes from the same clock.
    expect(Date.parse(row.lastSeen)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(row.lastSeen)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(row.state).toBe('up');
    expect(pd.requests).toEqual([]);
    // A pause taken there ends an hour after the database's now, not an hour after 2020.
    expect((await project.run(['pause', 'job', '--for', '1h'], skewed)).code).toBe(0);
    const until = Date.parse((await statusBySlug(project, skewed)).get('job').muted.until);
    expect(until).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3_600_000 + 1000);
  });

  it('MEDIC_DB may name the PostgreSQL database instead of the file\'s "database"', async () => {
    pd = await startPdServer();
    const url = await freshDatabase();
    project = tempProject(config('medic.db', pd.url));
    expect(await project.run(['beat', 'other'], { env: { MEDIC_DB: url } })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await statusBySlug(project, { env: { MEDIC_DB: url } })).get('other').lastSeen).not.toBeNull();
    expect((await statusBySlug(project)).get('other').lastSeen).toBeNull();
  });

  it('a password in the URL is refused (78) by every command, and never printed', async () => {
    pd = await startPdServer();
    const url = (await freshDatabase()).replace('://medic@', '://medic:Sw0rdfish-secret@');
    project = tempProject(config(url, pd.url));
    for (const args of [['beat', 'job'], ['check'], ['status']]) {
      const res = await project.run(args, { env: ENV });
      expect(res.code).toBe(78);
      expect(res.stderr).toContain('a password in the database URL is refused');
      expect(res.stderr + res.stdout).not.toContain('Sw0rdfish');
    }
  });

  it('doctor probes PostgreSQL and names it by host, port, database and user', async () => {
    pd = await startPdServer();
    const url = await freshDatabase();
    project = tempProject(config(url, pd.url));
    const name = new URL(url).pathname.slice(1);
    const fresh = JSON.parse((await project.run(['doctor', '--json'], { env: ENV })).stdout);
    expect(fresh.find((f: { check: string }) => f.check === 'database')).toMatchObject({ level: 'ok', detail: expect.stringContaining(`PostgreSQL database "${name}" at medic@127.0.0.1`) });
    expect(fresh.find((f: { check: string }) => f.check === 'database').detail).toContain('no Medic tables yet');
    expect(fresh.some((f: { check: string }) => f.check === 'database permissions')).toBe(false);
    expect(await project.run(['check'], { env: ENV })).toMatchObject({ code: 0 });
    const after = JSON.parse((await project.run(['doctor', '--json'], { env: ENV })).stdout);
    expect(after.find((f: { check: string }) => f.check === 'database')).toMatchObject({ level: 'ok', detail: expect.stringContaining('opens and is writable, schema version') });
  });
});
