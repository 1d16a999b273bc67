import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTING_KEY, tempProject, type CliOptions, type CliResult, type Project } from '../helpers/cli.js';
import { eventProblems } from '../helpers/pd-rules.js';
import { badRequestJson, serverError, type PdServer } from '../helpers/pd-server.js';
import { standIns } from '../helpers/standins.js';

const MIN = 60_000;
const R = Date.parse('2026-03-02T09:00:00Z');

const startStandIn = standIns();
let project: Project;

afterEach(() => project?.remove());

/** Every file under `dir` (recursively), but not `skip`. */
function filesUnder(dir: string, skip: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === skip) return [];
    return statSync(path).isDirectory() ? filesUnder(path, skip) : [path];
  });
}

const summary = (pd: PdServer) => pd.requests.map((r) => `${r.body.event_action} ${r.body.dedup_key}`);

describe('a whole day of Medic', { timeout: 300_000 }, () => {
  it('sends only valid PagerDuty events, and never shows or stores a routing key', async () => {
    const oncall = await startStandIn();
    const payments = await startStandIn();
    project = tempProject({
      checker: { gapThreshold: '30d' },
      defaults: { interval: '5m', grace: '1m', targets: ['oncall'] },
      targets: {
        oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl: oncall.url },
        payments: { type: 'pagerduty', routingKeyFile: 'secrets/pd-payments', eventsUrl: payments.url, severity: { P2: 'critical' } },
      },
      teams: { payments: { targets: ['payments'] } },
      services: [
        {
          slug: 'nightly-backup',
          name: 'Nightly Backup',
          team: 'platform',
          priority: 'P1',
          runbook: 'https://wiki.example.com/runbooks/nightly-backup',
        },
        { slug: 'billing-sync', name: 'Billing Sync', team: 'payments', priority: 'P2' },
        { slug: 'queue-worker', name: 'Queue Worker — EU', priority: 'P3', targets: ['oncall', 'payments'] },
        { slug: 'reports', priority: 'P4', interval: '10m' },
      ],
    });
    const secrets = join(project.dir, 'secrets');
    mkdirSync(secrets);
    writeFileSync(join(secrets, 'pd-payments'), `${ROUTING_KEY}\n`, { mode: 0o600 });

    const outputs: CliResult[] = [];
    const run = async (args: string[], at: number, opts: CliOptions = {}) => {
      const res = await project.run(args, { at, env: { PAGERDUTY_ROUTING_KEY: ROUTING_KEY }, ...opts });
      outputs.push(res);
      return res;
    };
    const beat = async (slug: string, at: number) => expect((await run(['beat', slug], at, { frozen: true })).code).toBe(0);

    // Registration, first beats.
    expect((await run(['check', '-v'], R, { frozen: true })).code).toBe(0);
    for (const slug of ['nightly-backup', 'billing-sync', 'queue-worker']) await beat(slug, R + MIN);
    await beat('billing-sync', R + 6 * MIN);
    expect((await run(['check', '-v'], R + 6 * MIN)).code).toBe(0);
    expect(oncall.requests).toHaveLength(0);

    // R + 7m: two services down; the first request to oncall fails with a 500 and is retried.
    oncall.replyQueue(serverError());
    expect((await run(['check', '-v'], R + 7 * MIN)).code).toBe(0);
    expect((await run(['status'], R + 7 * MIN + 5_000)).code).toBe(0);
    expect((await run(['status', '--json'], R + 7 * MIN + 5_000)).code).toBe(0);

    // R + 8m: queue-worker is back; both its targets get a resolve.
    await beat('queue-worker', R + 8 * MIN);
    expect((await run(['check', '--dry-run', '-v'], R + 8 * MIN + 10_000)).code).toBe(0);
    expect((await run(['check', '-v'], R + 8 * MIN + 10_000)).code).toBe(0);

    // R + 11m: reports (never beat) goes down; billing-sync keeps beating.
    await beat('billing-sync', R + 10 * MIN);
    await beat('queue-worker', R + 10 * MIN);
    expect((await run(['check', '-v'], R + 11 * MIN)).code).toBe(0);

    // R + 12m: everything is back.
    for (const slug of ['nightly-backup', 'reports', 'billing-sync', 'queue-worker']) await beat(slug, R + 12 * MIN);
    expect((await run(['check', '-v'], R + 12 * MIN + 10_000)).code).toBe(0);
    expect((await run(['status', '--json'], R + 13 * MIN)).code).toBe(0);

    // The test alert, its resolve, and one the payments integration rejects.
    expect((await run(['test-alert'], R + 14 * MIN)).code).toBe(0);
    expect((await run(['test-alert', '--resolve'], R + 14 * MIN)).code).toBe(0);
    payments.replyQueue(badRequestJson(['Invalid routing key']));
    const rejected = await run(['test-alert', '--target', 'payments'], R + 15 * MIN);
    expect(rejected.code).toBe(76);
    // No routing key in the environment: 78, naming the variable.
    expect((await run(['test-alert', '--target', 'oncall'], R + 15 * MIN, { env: {} })).code).toBe(78);

    // Deliveries for different services run in parallel: compare sorted. The 500 answered one of
    // the two first triggers, which went again, identical, and was accepted once.
    expect(oncall.requests).toHaveLength(9);
    const failed = oncall.requests.filter((r) => !oncall.accepted.includes(r));
    expect(failed).toHaveLength(1);
    expect(['medic-heartbeat-nightly-backup', 'medic-heartbeat-queue-worker']).toContain(failed[0]!.body.dedup_key);
    expect(oncall.accepted.filter((r) => r.rawBody === failed[0]!.rawBody)).toHaveLength(1);
    expect(oncall.accepted.map((r) => `${r.body.event_action} ${r.body.dedup_key}`).sort()).toEqual([
      'resolve medic-heartbeat-nightly-backup',
      'resolve medic-heartbeat-queue-worker',
      'resolve medic-heartbeat-reports',
      'resolve medic-test-alert',
      'trigger medic-heartbeat-nightly-backup',
      'trigger medic-heartbeat-queue-worker',
      'trigger medic-heartbeat-reports',
      'trigger medic-test-alert',
    ]);
    expect(summary(payments)).toEqual([
      'trigger medic-heartbeat-queue-worker',
      'resolve medic-heartbeat-queue-worker',
      'trigger medic-test-alert',
      'resolve medic-test-alert',
      'trigger medic-test-alert',
    ]);

    // 7: every body either stand-in received is a valid Events API v2 event.
    const all = [...oncall.requests, ...payments.requests];
    expect(all.length).toBe(14);
    for (const r of all) expect({ body: r.rawBody, problems: eventProblems(r.rawBody) }).toEqual({ body: r.rawBody, problems: [] });
    for (const r of all) expect(r.body.routing_key).toBe(ROUTING_KEY);

    // 8: the key never shows in any output, nor in any file Medic wrote (database, WAL).
    for (const { stdout, stderr } of outputs) {
      expect(stdout).not.toContain(ROUTING_KEY);
      expect(stderr).not.toContain(ROUTING_KEY);
    }
    expect(outputs.some((o) => o.stderr.includes('Invalid routing key'))).toBe(true);
    const written = filesUnder(project.dir, secrets);
    expect(written.map((f) => relative(project.dir, f))).toContain('medic.db');
    for (const file of written) {
      expect(readFileSync(file).includes(Buffer.from(ROUTING_KEY)), relative(project.dir, file)).toBe(false);
    }
  });
});
