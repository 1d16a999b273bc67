import { afterEach, describe, expect, it } from 'vitest';
import { statusBySlug, tempProject, type Project } from '../helpers/cli.js';

const SEC = 1000;
const MIN = 60 * SEC;
const N = Date.parse('2026-03-02T09:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

let project: Project;

afterEach(() => project?.remove());

/**
 * Four services, one in each state at N + 10s: fresh (up), slow (late), dead (down, its trigger
 * still undelivered because the routing key is unset), newbie (new: registered by the check at N).
 */
async function fourStates(): Promise<Project> {
  const p = tempProject({
    checker: { gapThreshold: '30d' },
    // Never contacted: the routing key stays unset, so the trigger waits in the outbox.
    targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
    defaults: { interval: '5m', grace: '1m' },
    services: [
      { slug: 'fresh', name: 'Fresh Job', team: 'platform', priority: 'P2' },
      { slug: 'slow', team: 'platform', priority: 'p1', grace: '2m' },
      { slug: 'dead', name: 'Dead Job', team: 'payments', priority: 'P4' },
      { slug: 'newbie', interval: '1h' },
    ],
  });
  for (const [slug, at] of [
    ['dead', N - 30 * MIN],
    ['slow', N - 6 * MIN],
    ['fresh', N - MIN],
  ] as const) {
    expect(await p.run(['beat', slug], { at, frozen: true })).toEqual({ code: 0, stdout: '', stderr: '' });
  }
  const check = await p.run(['check'], { at: N, frozen: true });
  expect(check.code).toBe(78);
  expect(check.stderr).toContain('PAGERDUTY_ROUTING_KEY');
  return p;
}

describe('medic status', { timeout: 120_000 }, () => {
  it('--json gives every field for up, late, down and new services', async () => {
    project = await fourStates();
    const rows = await statusBySlug(project, { at: N + 10 * SEC, frozen: true });
    expect([...rows.keys()]).toEqual(['fresh', 'slow', 'dead', 'newbie']);
    expect(rows.get('fresh')).toMatchObject({
      slug: 'fresh',
      name: 'Fresh Job',
      team: 'platform',
      priority: 'P2',
      state: 'up',
      lastSeen: iso(N - MIN),
      deadline: iso(N - MIN + 6 * MIN),
      missedHeartbeats: 0,
      incidentOpen: false,
      pendingEvents: 0,
    });
    expect(rows.get('slow')).toMatchObject({
      slug: 'slow',
      name: 'slow',
      team: 'platform',
      priority: 'P1',
      state: 'late',
      lastSeen: iso(N - 6 * MIN),
      deadline: iso(N - 6 * MIN + 7 * MIN),
      missedHeartbeats: 1,
      incidentOpen: false,
      pendingEvents: 0,
    });
    expect(rows.get('dead')).toMatchObject({
      slug: 'dead',
      name: 'Dead Job',
      team: 'payments',
      priority: 'P4',
      state: 'down',
      lastSeen: iso(N - 30 * MIN),
      deadline: iso(N - 30 * MIN + 6 * MIN),
      missedHeartbeats: 6,
      incidentOpen: true,
      pendingEvents: 1,
      delivery: 'queued',
      deliveryProblem: 'trigger to oncall: environment variable PAGERDUTY_ROUTING_KEY is not set',
    });
    // Nothing to tell: no incident and nothing queued.
    expect(rows.get('fresh')).toMatchObject({ delivery: null, deliveryProblem: null });
    expect(rows.get('newbie')).toMatchObject({
      slug: 'newbie',
      name: 'newbie',
      team: null,
      priority: 'P3',
      state: 'new',
      lastSeen: null,
      deadline: iso(N + 60 * MIN + MIN),
      missedHeartbeats: 0,
      incidentOpen: false,
      pendingEvents: 0,
    });
  });

  it('prints a plain table (no colour off a terminal) with one row per service', async () => {
    project = await fourStates();
    const res = await project.run(['status'], { at: N + 10 * SEC, frozen: true });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).not.toContain('\x1b[');
    const lines = res.stdout.trimEnd().split('\n');
    // Later columns and footer lines (notes, last check) may follow these.
    expect(lines[0]!.split(/\s{2,}/).slice(0, 6)).toEqual(['SERVICE', 'STATE', 'LAST SEEN', 'DEADLINE', 'INCIDENT', 'UNDELIVERED']);
    const slugs = ['fresh', 'slow', 'dead', 'newbie'];
    const rows = lines.slice(1).filter((l) => slugs.includes(l.split(/\s+/)[0]!));
    expect(rows.map((l) => l.split(/\s+/)[0])).toEqual(slugs);
    const cells = new Map(rows.map((l) => [l.split(/\s+/)[0], l.split(/\s{2,}/)]));
    expect(cells.get('fresh')!.slice(0, 4)).toEqual(['fresh', 'up', '1m ago', 'in 4m']);
    expect(cells.get('slow')!.slice(0, 4)).toEqual(['slow', 'late', '6m ago', 'in 50s']);
    expect(cells.get('newbie')!.slice(0, 3)).toEqual(['newbie', 'new', 'never']);
    const dead = cells.get('dead')!;
    expect(dead.slice(0, 4)).toEqual(['dead', 'down', '30m ago', '24m ago']);
    expect(dead.join('  ')).toContain(iso(N - 24 * MIN));
    // Undelivered, and why: PagerDuty does not have this incident yet.
    expect(dead[5]).toBe('1 queued');
    expect(dead[6]).toContain('trigger to oncall: environment variable PAGERDUTY_ROUTING_KEY is not set');
    expect(cells.get('fresh')![5]).toBe('-');
  });

  it('shows only the named services, and refuses an unknown one with exit 65', async () => {
    project = await fourStates();
    const some = await project.run(['status', '--json', 'dead', 'fresh'], { at: N + 10 * SEC, frozen: true });
    expect(some.code).toBe(0);
    expect(JSON.parse(some.stdout).map((r: { slug: string }) => r.slug)).toEqual(['dead', 'fresh']);

    const typo = await project.run(['status', 'deda'], { at: N + 10 * SEC, frozen: true });
    expect(typo.code).toBe(65);
    expect(typo.stderr).toContain("unknown service 'deda' — did you mean 'dead'?");
  });

  it('[jobs] shows a scheduled service with its schedule and zone (NOTE in the table), and says when the zone is the machine\'s', async () => {
    project = tempProject({
      checker: { gapThreshold: '30d' },
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [
        { slug: 'berlin', schedule: '30 2 * * *', timezone: 'Europe/Berlin', grace: '30m', maxRuntime: '2h' },
        { slug: 'local', schedule: '30 2 * * *', grace: '30m' },
        { slug: 'plain', interval: '5m' },
      ],
    });
    const env = { TZ: 'America/New_York' };
    expect(await project.run(['beat', 'berlin'], { at: N, frozen: true, env })).toEqual({ code: 0, stdout: '', stderr: '' });
    const rows = await statusBySlug(project, { at: N + MIN, frozen: true, env });
    // 02:30 in Berlin (CET) is 01:30Z; in New York (EST) 07:30Z. N is 09:00Z on 2 March.
    expect(rows.get('berlin')).toMatchObject({
      state: 'up',
      interval: null,
      schedule: '30 2 * * *',
      timezone: 'Europe/Berlin',
      timezoneSource: 'config',
      maxRuntime: '2h',
      lateAt: '2026-03-03T01:30:00.000Z',
      deadline: '2026-03-03T02:00:00.000Z',
      downReason: null,
      runningSince: null,
      failure: null,
    });
    expect(rows.get('local')).toMatchObject({ schedule: '30 2 * * *', timezone: 'America/New_York', timezoneSource: 'machine', maxRuntime: null, deadline: '2026-03-03T08:00:00.000Z' });
    expect(rows.get('plain')).toMatchObject({ interval: '5m', schedule: null, timezone: null, timezoneSource: null });

    const table = await project.run(['status'], { at: N + MIN, frozen: true, env });
    expect(table.code).toBe(0);
    const cells = new Map(table.stdout.split('\n').map((l) => [l.split(/\s+/)[0], l.split(/\s{2,}/)]));
    // NOTE, first: the schedule and its zone (an interval service's row is as before).
    expect(cells.get('berlin')![6]).toBe('30 2 * * * Europe/Berlin');
    expect(cells.get('local')![6]).toBe('30 2 * * * (machine zone America/New_York)');
    expect(cells.get('plain')).toHaveLength(6);
  });
});
