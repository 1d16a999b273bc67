import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { medic, ROUTING_KEY, tempProject, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';

const MIN = 60_000;
const R = Date.parse('2026-03-02T09:00:00Z');

let servers: PdServer[] = [];
let project: Project;
let cwd: string;

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  project?.remove();
  if (cwd) rmSync(cwd, { recursive: true, force: true });
});

/** What one stand-in received, as `action slug severity` lines, sorted (deliveries run in parallel). */
function received(pd: PdServer): string[] {
  return pd.requests
    .map((r) => `${r.body.event_action} ${String(r.body.dedup_key).replace('medic-heartbeat-', '')}${r.body.payload ? ` ${r.body.payload.severity}` : ''}`)
    .sort();
}

describe('targets', { timeout: 180_000 }, () => {
  it('routes each service to its own, its team\'s or the default targets with the right severity, and resolves where it triggered even after the config changed', async () => {
    const oncall = await startPdServer();
    const payments = await startPdServer();
    servers = [oncall, payments];
    const config = {
      checker: { gapThreshold: '30d' },
      defaults: { interval: '5m', grace: '1m', targets: ['oncall'] },
      targets: {
        oncall: { type: 'pagerduty', routingKeyEnv: 'ONCALL_PD_KEY', eventsUrl: oncall.url, severity: { P1: 'error', P3: 'info' } },
        // Relative: resolved against the config's folder, not the working directory.
        payments: { type: 'pagerduty', routingKeyFile: 'secrets/pd-payments', eventsUrl: payments.url },
      },
      teams: { payments: { targets: ['payments'] } },
      services: [
        // default targets; oncall's map turns P1 into error
        { slug: 'api', team: 'platform', priority: 'P1' },
        // team targets; payments has no map: P1 critical
        { slug: 'billing', team: 'payments', priority: 'P1' },
        // own targets; one severity for every target
        { slug: 'ledger', team: 'payments', priority: 'P3', severity: 'critical', targets: ['oncall', 'payments'] },
        // the service's own map beats the target's (oncall says P3 info)
        { slug: 'reports', team: 'platform', priority: 'P3', severity: { P3: 'warning' } },
        // no map anywhere applies: the guide's table (P4 info)
        { slug: 'archive', priority: 'P4', targets: ['payments'] },
      ],
    };
    project = tempProject(config);
    mkdirSync(join(project.dir, 'secrets'));
    writeFileSync(join(project.dir, 'secrets', 'pd-payments'), `${ROUTING_KEY}\n`, { mode: 0o600 });
    // cron runs from $HOME: run every command from another folder, naming the config.
    cwd = realpathSync(mkdtempSync(join(tmpdir(), 'medic-cwd-')));
    const run = (args: string[], at: number, frozen = false) =>
      medic(['--config', project.configPath, ...args], { cwd, at, frozen, env: { ONCALL_PD_KEY: ROUTING_KEY } });

    // The first check registers every service at R exactly (frozen clock).
    expect(await run(['check'], R, true)).toEqual({ code: 0, stdout: '', stderr: '' });
    const check = await run(['check'], R + 6 * MIN);
    expect(check).toEqual({ code: 0, stdout: '', stderr: '' });

    expect(received(oncall)).toEqual(['trigger api error', 'trigger ledger critical', 'trigger reports warning']);
    expect(received(payments)).toEqual(['trigger archive info', 'trigger billing critical', 'trigger ledger critical']);
    for (const r of [...oncall.requests, ...payments.requests]) expect(r.body.routing_key).toBe(ROUTING_KEY);

    // Re-route everything before the recovery: resolves must still go where the triggers went.
    project.writeConfig({
      ...config,
      teams: { payments: { targets: ['oncall'] } },
      services: config.services.map((s) => (s.slug === 'ledger' ? { ...s, targets: ['oncall'] } : s.slug === 'archive' ? { ...s, targets: ['oncall'] } : s)),
    });
    for (const s of config.services) expect((await run(['beat', s.slug], R + 10 * MIN)).code).toBe(0);
    expect(await run(['check'], R + 11 * MIN)).toEqual({ code: 0, stdout: '', stderr: '' });

    expect(received(oncall)).toEqual([
      'resolve api',
      'resolve ledger',
      'resolve reports',
      'trigger api error',
      'trigger ledger critical',
      'trigger reports warning',
    ]);
    expect(received(payments)).toEqual([
      'resolve archive',
      'resolve billing',
      'resolve ledger',
      'trigger archive info',
      'trigger billing critical',
      'trigger ledger critical',
    ]);
    for (const r of [...oncall.requests, ...payments.requests].filter((r) => r.body.event_action === 'resolve')) {
      expect(r.body).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: r.body.dedup_key });
    }
  });

  it('pages every target of a service exactly once, each with its own routing key source', async () => {
    const a = await startPdServer();
    const b = await startPdServer();
    servers = [a, b];
    project = tempProject({
      checker: { gapThreshold: '30d' },
      targets: {
        first: { type: 'pagerduty', routingKeyEnv: 'FIRST_KEY', eventsUrl: a.url },
        second: { type: 'pagerduty', routingKeyEnv: 'SECOND_KEY', eventsUrl: b.url },
      },
      services: [{ slug: 'etl', interval: '1m', grace: '0s', targets: ['first', 'second'] }],
    });
    const env = { FIRST_KEY: ROUTING_KEY, SECOND_KEY: ROUTING_KEY };
    expect(await project.run(['check'], { at: R, frozen: true, env })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['check'], { at: R + MIN, env })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(received(a)).toEqual(['trigger etl warning']);
    expect(received(b)).toEqual(['trigger etl warning']);

    // Only one of the two keys set: the other target's event waits (78, naming the variable).
    const both = await project.run(['beat', 'etl'], { at: R + 2 * MIN, env });
    expect(both.code).toBe(0);
    const half = await project.run(['check'], { at: R + 2 * MIN + 10_000, env: { FIRST_KEY: ROUTING_KEY } });
    expect(half.code).toBe(78);
    expect(half.stderr).toContain('SECOND_KEY');
    expect(half.stderr).not.toContain('FIRST_KEY');
    expect(received(a)).toEqual(['resolve etl', 'trigger etl warning']);
    expect(received(b)).toEqual(['trigger etl warning']);

    // (Before R + 3m, when the next beat is due again.)
    expect(await project.run(['check'], { at: R + 2 * MIN + 30_000, env })).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(received(a)).toEqual(['resolve etl', 'trigger etl warning']);
    expect(received(b)).toEqual(['resolve etl', 'trigger etl warning']);
  });
});
