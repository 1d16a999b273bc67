import { afterEach, describe, expect, it } from 'vitest';
import { ROUTING_KEY, statusBySlug, tempProject, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';

const SEC = 1000;
const MIN = 60 * SEC;
const T = Date.parse('2026-03-02T09:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };

let pd: PdServer;
let project: Project;

afterEach(async () => {
  await pd?.close();
  project?.remove();
});

function config(eventsUrl: string, services: unknown[]) {
  return {
    // Checks in these tests are minutes apart: keep checker-gap protection out of the way.
    checker: { gapThreshold: '30d' },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl } },
    services,
  };
}

describe('a service that stops beating', { timeout: 180_000 }, () => {
  it('pages once at its deadline with the SPEC §4 trigger, stays quiet while down, and resolves once on the next beat', async () => {
    pd = await startPdServer();
    const runbook = 'https://wiki.example.com/runbooks/nightly-backup';
    project = tempProject(
      config(pd.url, [
        { slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P1', interval: '10m', grace: '2m', threshold: 2, runbook },
      ]),
    );
    const deadline = T + 10 * MIN * 2 + 2 * MIN;

    const beat = await project.run(['beat', 'nightly-backup'], { at: T, frozen: true, env: ENV });
    expect(beat).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['check'], { at: T, frozen: true, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });

    // One second before the deadline: late, not down.
    expect(await project.run(['check'], { at: deadline - SEC, frozen: true, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests).toEqual([]);
    expect((await statusBySlug(project, { at: deadline - SEC, frozen: true })).get('nightly-backup').state).toBe('late');

    // At the deadline: exactly one trigger.
    expect(await project.run(['check'], { at: deadline, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests).toHaveLength(1);
    const [trigger] = pd.requests;
    expect(trigger!.method).toBe('POST');
    expect(trigger!.path).toBe('/v2/enqueue');
    expect(trigger!.headers['content-type']).toMatch(/^application\/json/);
    expect(trigger!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'medic-heartbeat-nightly-backup',
      payload: {
        summary: 'Heartbeat failure: Nightly Backup',
        severity: 'critical',
        source: 'medic',
        component: 'Nightly Backup',
        group: 'platform',
        class: 'heartbeat_failure',
        timestamp: iso(deadline),
        custom_details: {
          service_slug: 'nightly-backup',
          team: 'platform',
          priority: 'P1',
          missed_heartbeats: 2,
          last_seen: iso(T),
          threshold: { interval: '10m', grace: '2m', missed_heartbeats: 2 },
          reason: 'missed',
          runbook_url: runbook,
        },
      },
      links: [{ href: runbook, text: 'Runbook' }],
      client: 'Medic',
    });

    // Still down: later checks send nothing more.
    for (const at of [deadline + MIN, deadline + 5 * MIN]) {
      expect(await project.run(['check'], { at, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    }
    expect(pd.requests).toHaveLength(1);
    const down = (await statusBySlug(project, { at: deadline + 5 * MIN, frozen: true })).get('nightly-backup');
    expect(down).toMatchObject({ state: 'down', incidentOpen: true, pendingEvents: 0, lastSeen: iso(T) });

    // The beat comes back: exactly one resolve, with exactly the three fields.
    const back = deadline + 6 * MIN;
    expect(await project.run(['beat', 'nightly-backup'], { at: back, frozen: true, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['check'], { at: back + 30 * SEC, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests).toHaveLength(2);
    expect(pd.requests[1]!.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: 'medic-heartbeat-nightly-backup' });

    // And nothing after that.
    expect(await project.run(['check'], { at: back + 2 * MIN, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests).toHaveLength(2);
    expect(pd.accepted).toHaveLength(2);
    const up = (await statusBySlug(project, { at: back + 2 * MIN, frozen: true })).get('nightly-backup');
    expect(up).toMatchObject({ state: 'up', incidentOpen: false, pendingEvents: 0, lastSeen: iso(back) });
  });

  it('counts a service that never beat from its registration (the first check) and sends last_seen null', async () => {
    pd = await startPdServer();
    project = tempProject(config(pd.url, [{ slug: 'queue-worker', priority: 'P3', interval: '5m', grace: '1m' }]));
    const registered = T;
    const deadline = registered + 5 * MIN + 1 * MIN;

    expect(await project.run(['check'], { at: registered, frozen: true, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await statusBySlug(project, { at: registered + MIN, frozen: true })).get('queue-worker')).toMatchObject({
      state: 'new',
      lastSeen: null,
      deadline: iso(deadline),
    });
    expect(await project.run(['check'], { at: deadline - SEC, frozen: true, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests).toEqual([]);

    expect(await project.run(['check'], { at: deadline, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests.map((r) => r.body)).toEqual([
      {
        routing_key: ROUTING_KEY,
        event_action: 'trigger',
        dedup_key: 'medic-heartbeat-queue-worker',
        payload: {
          summary: 'Heartbeat failure: queue-worker',
          severity: 'warning',
          source: 'medic',
          component: 'queue-worker',
          class: 'heartbeat_failure',
          timestamp: iso(deadline),
          custom_details: {
            service_slug: 'queue-worker',
            team: null,
            priority: 'P3',
            missed_heartbeats: 1,
            last_seen: null,
            threshold: { interval: '5m', grace: '1m', missed_heartbeats: 1 },
            reason: 'missed',
          },
        },
        client: 'Medic',
      },
    ]);
  });
  it('check --dry-run says what would change, and sends and records nothing', async () => {
    pd = await startPdServer();
    project = tempProject(config(pd.url, [{ slug: 'queue-worker', interval: '5m', grace: '1m' }]));
    expect(await project.run(['check'], { at: T, frozen: true, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });

    const dry = await project.run(['check', '--dry-run', '-v'], { at: T + 6 * MIN, env: ENV });
    expect(dry.code).toBe(0);
    expect(dry.stderr).toBe('');
    expect(dry.stdout).toContain('would mark queue-worker down');
    // It listed a change: it must not also claim there was none.
    expect(dry.stdout).not.toContain('no changes');
    expect(pd.requests).toEqual([]);
    expect((await statusBySlug(project, { at: T + 6 * MIN + SEC, frozen: true })).get('queue-worker')).toMatchObject({
      state: 'down',
      incidentOpen: false,
      pendingEvents: 0,
    });

    expect(await project.run(['check'], { at: T + 6 * MIN + 2 * SEC, env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.requests.map((r) => r.body.event_action)).toEqual(['trigger']);
  });
});
