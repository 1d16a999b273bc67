import { afterEach, describe, expect, it } from 'vitest';
import { INVALID_ROUTING_KEY_FIX, testAlertBody } from '../fixtures/pagerduty.js';
import { ROUTING_KEY, tempProject, type Project } from '../helpers/cli.js';
import { badRequestJson, badRequestText, refusedUrl, type PdServer } from '../helpers/pd-server.js';
import { standIns } from '../helpers/standins.js';

const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };

const startStandIn = standIns();
let project: Project;

afterEach(() => project?.remove());

async function oneTarget(eventsUrl?: string): Promise<{ pd: PdServer | undefined; project: Project }> {
  const pd = eventsUrl ? undefined : await startStandIn();
  const p = tempProject({
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: eventsUrl ?? pd!.url } },
    services: [{ slug: 'nightly-backup' }],
  });
  return { pd, project: p };
}

describe('medic test-alert', { timeout: 120_000 }, () => {
  it('sends the guide\'s curl trigger body, field for field, and prints PagerDuty\'s answer', async () => {
    const t = await oneTarget();
    project = t.project;
    const res = await project.run(['test-alert'], { env: ENV });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(t.pd!.requests).toHaveLength(1);
    expect(t.pd!.requests[0]!.body).toEqual(testAlertBody('trigger', ROUTING_KEY));
    expect(t.pd!.requests[0]!.headers['content-type']).toMatch(/^application\/json/);
    expect(res.stdout).toContain('202');
    expect(res.stdout).toContain('success');
    expect(res.stdout).toContain('Event processed');
    expect(res.stdout).toContain('medic-test-alert');
    expect(res.stdout).not.toContain(ROUTING_KEY);
  });

  it('--resolve sends the guide\'s resolve body, field for field', async () => {
    const t = await oneTarget();
    project = t.project;
    const res = await project.run(['test-alert', '--resolve'], { env: ENV });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    expect(t.pd!.requests.map((r) => r.body)).toEqual([testAlertBody('resolve', ROUTING_KEY)]);
    expect(res.stdout).toContain('success');
    expect(res.stdout).toContain('medic-test-alert');
  });

  it('--target picks one of two targets; without it both get the test; an unknown one exits 64', async () => {
    const a = await startStandIn();
    const b = await startStandIn();
    project = tempProject({
      targets: {
        oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: a.url },
        payments: { type: 'pagerduty', routingKeyEnv: 'PAYMENTS_PD_KEY', eventsUrl: b.url },
      },
      services: [{ slug: 'nightly-backup', targets: ['oncall'] }],
    });
    const env = { ...ENV, PAYMENTS_PD_KEY: ROUTING_KEY };

    const one = await project.run(['test-alert', '--target', 'payments'], { env });
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('payments');
    expect(a.requests).toHaveLength(0);
    expect(b.requests.map((r) => r.body)).toEqual([testAlertBody('trigger', ROUTING_KEY)]);

    const both = await project.run(['test-alert', '--resolve'], { env });
    expect(both.code).toBe(0);
    expect(a.requests.map((r) => r.body)).toEqual([testAlertBody('resolve', ROUTING_KEY)]);
    expect(b.requests.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve']);

    const unknown = await project.run(['test-alert', '--target', 'paymnets'], { env });
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('paymnets');
    expect(unknown.stderr).toContain('payments');
    expect(unknown.stderr).not.toMatch(/^\s+at /m);
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(2);
  });

  it('exits 78 with the fix when the routing key is not set', async () => {
    const t = await oneTarget();
    project = t.project;
    const res = await project.run(['test-alert']);
    expect(res.code).toBe(78);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('PAGERDUTY_ROUTING_KEY');
    expect(res.stderr).toMatch(/export PAGERDUTY_ROUTING_KEY=/);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(t.pd!.requests).toHaveLength(0);
  });

  it.each([
    ['JSON', badRequestJson(['Invalid routing key']), ['Event object is invalid', 'Invalid routing key']],
    ['plain text', badRequestText('Bad Request: could not parse the event'), ['Bad Request: could not parse the event']],
  ])('a 400 with a %s body exits 76 quoting PagerDuty with the troubleshooting steps', async (_kind, reply, quoted) => {
    const t = await oneTarget();
    project = t.project;
    t.pd!.reply(() => reply);
    const res = await project.run(['test-alert'], { env: ENV });
    expect(res.code).toBe(76);
    expect(res.stderr).toContain('HTTP 400');
    for (const q of quoted) expect(res.stderr).toContain(q);
    for (const step of INVALID_ROUTING_KEY_FIX) expect(res.stderr).toContain(step);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(res.stderr).not.toContain(ROUTING_KEY);
    // Rejected for good: sent once, not retried.
    expect(t.pd!.requests).toHaveLength(1);
  });

  it('a refused connection exits 75', async () => {
    const t = await oneTarget(await refusedUrl());
    project = t.project;
    const res = await project.run(['test-alert'], { env: ENV });
    expect(res.code).toBe(75);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('connection refused');
    expect(res.stderr).not.toMatch(/^\s+at /m);
  });
});
