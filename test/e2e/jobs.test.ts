/**
 * [jobs] End to end, the real bin/medic at chosen instants (libfaketime) against a PagerDuty
 * stand-in: `beat --fail -m` pages at the next check with the reason and message; `--start` with
 * maxRuntime pages "stuck"; a success resolves; a daily schedule in Europe/Berlin pages at the same
 * instant whatever the machine's zone, and one without "timezone" follows the machine's (TZ); an
 * early beat within grace does not page.
 *
 * The signal tests need `medic beat --fail/--start` and the store's signal columns (the signals
 * work of issue 9).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTING_KEY, statusBySlug, tempProject, type CliOptions, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { eventProblems } from '../helpers/pd-rules.js';

const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const T = Date.parse('2026-11-26T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const OK = { code: 0, stdout: '', stderr: '' };

let pd: PdServer;
let project: Project;

afterEach(async () => {
  await pd?.close();
  project?.remove();
});

function setUp(services: unknown[], gapThreshold = '30d') {
  project = tempProject({
    // Checks in these tests are hours apart: keep checker-gap protection out of the way.
    checker: { gapThreshold },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: pd.url } },
    services,
  });
}

const run = (args: string[], at: number, opts: CliOptions = {}) => project.run(args, { at, frozen: true, ...opts, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY, ...opts.env } });
/** A check with a running clock (delivery needs timers to move). */
const check = (at: number, opts: CliOptions = {}) => project.run(['check'], { at, ...opts, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY, ...opts.env } });
const triggers = () => pd.requests.filter((r) => r.body?.event_action === 'trigger').map((r) => r.body);
const resolves = () => pd.requests.filter((r) => r.body?.event_action === 'resolve').map((r) => r.body);

describe('run signals', { timeout: 180_000 }, () => {
  it('beat --fail -m pages at the next check, before any deadline, with the reason and message; a success resolves', async () => {
    pd = await startPdServer();
    setUp([{ slug: 'backup', name: 'Backup', interval: '1h', grace: '5m' }]);
    expect(await run(['beat', 'backup'], T)).toEqual(OK);
    expect(await check(T)).toEqual(OK);

    const failedAt = T + 10 * MIN;
    expect(await run(['beat', 'backup', '--fail', '-m', 'disk full'], failedAt)).toEqual(OK);
    expect(await check(failedAt + 30 * SEC)).toEqual(OK);
    expect(triggers()).toHaveLength(1);
    const [trigger] = triggers();
    expect(eventProblems(trigger)).toEqual([]);
    expect(trigger.payload.summary).toBe('Heartbeat failure: Backup');
    expect(trigger.payload.timestamp).toBe(iso(failedAt));
    expect(trigger.payload.custom_details).toMatchObject({ reason: 'failed', message: 'disk full', last_seen: iso(T) });
    expect(trigger.payload.custom_details).not.toHaveProperty('exit_code');
    expect((await statusBySlug(project, { at: failedAt + MIN, frozen: true })).get('backup')).toMatchObject({
      state: 'failed',
      downReason: 'failed',
      // Down since the failure: not "in 55m", the missed deadline still to come.
      deadline: iso(failedAt),
      failure: { at: iso(failedAt), message: 'disk full', exitCode: null },
    });

    // Still failed: nothing more. Then a success resolves.
    expect(await check(failedAt + 5 * MIN)).toEqual(OK);
    expect(triggers()).toHaveLength(1);
    expect(await run(['beat', 'backup'], failedAt + 20 * MIN)).toEqual(OK);
    expect(await check(failedAt + 21 * MIN)).toEqual(OK);
    expect(resolves()).toEqual([{ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-backup' }]);
  });

  it('--start arms maxRuntime: a run still going at start + maxRuntime pages "stuck", though its grace passed long before; a success resolves', async () => {
    pd = await startPdServer();
    setUp([{ slug: 'etl', interval: '1h', grace: '5m', maxRuntime: '30m' }]);
    expect(await run(['beat', 'etl'], T)).toEqual(OK);
    expect(await check(T)).toEqual(OK);

    const started = T + HOUR; // on time
    expect(await run(['beat', 'etl', '--start'], started)).toEqual(OK);
    // Past reference + interval + grace, but running under maxRuntime: not missed.
    expect(await check(started + 30 * MIN - SEC)).toEqual(OK);
    expect(triggers()).toEqual([]);
    expect((await statusBySlug(project, { at: started + 20 * MIN, frozen: true })).get('etl')).toMatchObject({ state: 'running', runningSince: iso(started) });

    expect(await check(started + 30 * MIN)).toEqual(OK);
    expect(triggers()).toHaveLength(1);
    const [trigger] = triggers();
    expect(eventProblems(trigger)).toEqual([]);
    expect(trigger.payload.timestamp).toBe(iso(started + 30 * MIN));
    expect(trigger.payload.custom_details).toMatchObject({ reason: 'stuck', started_at: iso(started), max_runtime: '30m' });
    expect((await statusBySlug(project, { at: started + 31 * MIN, frozen: true })).get('etl')).toMatchObject({ state: 'stuck', downReason: 'stuck' });

    expect(await run(['beat', 'etl'], started + 40 * MIN)).toEqual(OK);
    expect(await check(started + 41 * MIN)).toEqual(OK);
    expect(resolves()).toHaveLength(1);
  });

  it('a job that starts every day and never ends pages once a day has passed without a success (a new start does not count as one)', async () => {
    pd = await startPdServer();
    setUp([{ slug: 'nightly', interval: '1d', grace: '30m' }]);
    expect(await run(['beat', 'nightly'], T)).toEqual(OK);
    expect(await check(T)).toEqual(OK);
    expect(await run(['beat', 'nightly', '--start'], T + 1 * 24 * HOUR)).toEqual(OK); // hangs
    expect(await check(T + 1 * 24 * HOUR + 31 * MIN)).toEqual(OK); // the run in progress showed up on time
    expect(triggers()).toEqual([]);
    expect(await run(['beat', 'nightly', '--start'], T + 2 * 24 * HOUR)).toEqual(OK); // hangs again
    expect(await check(T + 2 * 24 * HOUR + 29 * MIN)).toEqual(OK);
    expect(triggers()).toEqual([]);
    expect(await check(T + 2 * 24 * HOUR + 30 * MIN)).toEqual(OK);
    expect(triggers()).toHaveLength(1);
    expect(triggers()[0].payload).toMatchObject({ timestamp: iso(T + 2 * 24 * HOUR + 30 * MIN), custom_details: { reason: 'missed' } });
  });

  it('a failure reported while the checker was not running still pages (gap protection restarts only missed deadlines)', async () => {
    pd = await startPdServer();
    setUp([{ slug: 'backup', interval: '5m', grace: '1m' }, { slug: 'quiet', interval: '5m', grace: '1m' }], '10m');
    expect(await run(['beat', 'backup'], T)).toEqual(OK);
    expect(await run(['beat', 'quiet'], T)).toEqual(OK);
    expect(await check(T)).toEqual(OK);
    expect(await run(['beat', 'backup', '--fail'], T + 2 * MIN)).toEqual(OK);
    // 30 minutes blind: quiet's missed deadline is restarted, backup's failure is news.
    const back = await check(T + 30 * MIN);
    expect(back.code).toBe(0);
    expect(back.stderr).toContain('1 service whose deadline fell in that blind period gets a fresh deadline');
    expect(triggers().map((t) => [t.payload.custom_details.service_slug, t.payload.custom_details.reason, t.payload.timestamp])).toEqual([['backup', 'failed', iso(T + 2 * MIN)]]);
  });
});

describe('schedules', { timeout: 180_000 }, () => {
  // A daily 02:30 job: in Europe/Berlin (CET) that is 01:30Z; in America/New_York (EST) 07:30Z.
  const berlinDeadline = Date.parse('2026-11-27T01:40:00Z');
  const newYorkDeadline = Date.parse('2026-11-27T07:40:00Z');

  it.each([
    ['TZ unset (the machine zone)', undefined],
    ['TZ=America/New_York', 'America/New_York'],
  ])('a daily job in Europe/Berlin pages at 02:30 Berlin + grace with %s', async (_label, tz) => {
    pd = await startPdServer();
    setUp([{ slug: 'dump', schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '10m' }]);
    const env = { TZ: tz };
    expect(await run(['beat', 'dump'], T, { env })).toEqual(OK);
    expect(await check(T, { env })).toEqual(OK);
    expect(await check(berlinDeadline - SEC, { env })).toEqual(OK);
    expect(triggers()).toEqual([]);
    expect(await check(berlinDeadline, { env })).toEqual(OK);
    expect(triggers()).toHaveLength(1);
    expect(triggers()[0].payload.timestamp).toBe(iso(berlinDeadline));
    expect(triggers()[0].payload.custom_details).toMatchObject({
      reason: 'missed',
      missed_heartbeats: 1,
      threshold: { schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '10m', missed_heartbeats: 1 },
    });
  });

  it('without "timezone" the schedule is read in the machine zone (TZ=America/New_York): not at 02:30 UTC, at 02:30 New York', async () => {
    pd = await startPdServer();
    setUp([{ slug: 'dump', schedule: '30 2 * * *', grace: '10m' }]);
    const env = { TZ: 'America/New_York' };
    expect(await run(['beat', 'dump'], T, { env })).toEqual(OK);
    expect(await check(T, { env })).toEqual(OK);
    expect(await check(Date.parse('2026-11-27T02:40:00Z'), { env })).toEqual(OK);
    expect(await check(newYorkDeadline - SEC, { env })).toEqual(OK);
    expect(triggers()).toEqual([]);
    expect(await check(newYorkDeadline, { env })).toEqual(OK);
    expect(triggers().map((t) => t.payload.timestamp)).toEqual([iso(newYorkDeadline)]);
    expect(triggers()[0].payload.custom_details.threshold).toEqual({ schedule: '30 2 * * *', timezone: 'America/New_York', grace: '10m', missed_heartbeats: 1 });
    // history shows the zone in use, in its header and in --json.
    const text = await run(['history', 'dump', '--since', '2d'], newYorkDeadline, { env });
    expect(text.stdout.split('\n')[0]).toMatch(/^dump \(30 2 \* \* \* \(machine zone America\/New_York\)\): beats per /);
    const json = JSON.parse((await run(['history', 'dump', '--since', '2d', '--json'], newYorkDeadline, { env })).stdout);
    expect(json).toMatchObject({ schedule: '30 2 * * *', timezone: 'America/New_York', timezoneSource: 'machine' });
  });

  it('resume of a scheduled service says until when it has', async () => {
    pd = await startPdServer();
    setUp([{ slug: 'dump', schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '10m' }]);
    expect(await check(T)).toEqual(OK);
    expect((await run(['pause', 'dump'], T)).code).toBe(0);
    const resumed = await run(['resume', 'dump'], T + HOUR);
    expect(resumed).toMatchObject({ code: 0, stderr: '' });
    expect(resumed.stdout).toContain(`it has until ${iso(berlinDeadline)} (its next scheduled run + grace) before it can go down`);
  });

  it('an early beat within grace counts for the coming run and does not page; one earlier than grace does', async () => {
    pd = await startPdServer();
    setUp([
      { slug: 'early', schedule: '0 3 * * *', timezone: 'UTC', grace: '15m' },
      { slug: 'too-early', schedule: '0 3 * * *', timezone: 'UTC', grace: '15m' },
    ]);
    const run27 = Date.parse('2026-11-27T03:00:00Z');
    expect(await check(T)).toEqual(OK);
    expect(await run(['beat', 'early'], run27 - 10 * MIN)).toEqual(OK);
    expect(await run(['beat', 'too-early'], run27 - 20 * MIN)).toEqual(OK);
    expect(await check(run27 + 15 * MIN)).toEqual(OK);
    expect(triggers().map((t) => t.payload.custom_details.service_slug)).toEqual(['too-early']);
    // The 28th's run is due as usual.
    expect(await check(run27 + 24 * HOUR + 15 * MIN)).toEqual(OK);
    expect(triggers().map((t) => t.payload.custom_details.service_slug)).toEqual(['too-early', 'early']);
  });
});
