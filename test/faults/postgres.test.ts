/**
 * PostgreSQL faults, on a cluster of this file's own (stopped and started by the tests), with the
 * real `bin/medic`: unreachable at beat time (74, in bounded time, no hang), and stopped in the
 * middle of a check (74, the pending event stays pending, the next check after the restart
 * delivers it).
 */
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROUTING_KEY, statusBySlug, tempProject, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { createDatabase, freePort, startCluster, type Cluster } from '../helpers/pg-cluster.js';

const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let cluster: Cluster;
let pd: PdServer | undefined;
let project: Project | undefined;

beforeAll(async () => {
  cluster = await startCluster();
}, 60_000);
afterAll(() => cluster?.destroy());
afterEach(async () => {
  await pd?.close();
  project?.remove();
  pd = undefined;
  project = undefined;
});

function config(database: string, eventsUrl = 'http://127.0.0.1:9/v2/enqueue') {
  return {
    database,
    checker: { gapThreshold: '30d' },
    targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PAGERDUTY_ROUTING_KEY', eventsUrl } },
    services: [{ slug: 'job', interval: '1s', grace: '1s', threshold: 1 }],
  };
}

describe('PostgreSQL unreachable at beat time', { timeout: 60_000 }, () => {
  it('nothing listens at the port: medic beat exits 74 at once, saying it cannot connect and what to check', async () => {
    const port = await freePort();
    project = tempProject(config(`postgres://medic@127.0.0.1:${port}/medic`));
    const started = Date.now();
    const res = await project.run(['--config', project.configPath, 'beat', 'job']);
    expect(res.code).toBe(74);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(`medic: cannot connect to PostgreSQL database "medic" at medic@127.0.0.1:${port}`);
    expect(res.stderr).toContain('that PostgreSQL is running');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('the server was stopped: medic beat exits 74; once it is back, the next beat is recorded', async () => {
    const db = await createDatabase(cluster.adminUrl);
    try {
      project = tempProject(config(db.url));
      expect(await project.run(['beat', 'job'])).toEqual({ code: 0, stdout: '', stderr: '' });
      cluster.stop('fast');
      try {
        const res = await project.run(['beat', 'job']);
        expect(res.code).toBe(74);
        expect(res.stderr).toContain('cannot connect to PostgreSQL database');
      } finally {
        cluster.start();
      }
      expect(await project.run(['beat', 'job'])).toEqual({ code: 0, stdout: '', stderr: '' });
    } finally {
      await db.drop();
    }
  });

  it('a host that accepts the connection and never answers: 74 within the connect timeout, no hang', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      project = tempProject(config(`postgres://medic@127.0.0.1:${(silent.address() as { port: number }).port}/medic`));
      const started = Date.now();
      const res = await project.run(['beat', 'job'], { killAfterMs: 30_000 });
      expect(res.code).toBe(74);
      expect(res.stderr).toContain('cannot connect');
      expect(Date.now() - started).toBeLessThan(12_000);
    } finally {
      silent.close();
    }
  });
});

describe('PostgreSQL stopped during a check, then restarted', { timeout: 90_000 }, () => {
  it('the check fails 74 with a clear message, the trigger stays pending, and the next check after the restart delivers it', async () => {
    const db = await createDatabase(cluster.adminUrl);
    try {
      pd = await startPdServer();
      project = tempProject(config(db.url, pd.url));
      expect(await project.run(['beat', 'job'])).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(await project.run(['check'], { env: ENV })).toEqual({ code: 0, stdout: '', stderr: '' });
      await sleep(2500);

      // PagerDuty takes the trigger; PostgreSQL goes away before the check can record that it did.
      pd.reply((_req, i) => {
        if (i === 0) cluster.stop('immediate');
        return 202;
      });
      let failed;
      try {
        failed = await project.run(['check'], { env: ENV });
      } finally {
        cluster.start();
      }
      expect(failed.code).toBe(74);
      expect(failed.stderr).toMatch(/medic: (lost the connection to|cannot connect to) PostgreSQL database/);
      expect(failed.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
      expect(pd.requests.map((r) => r.body.event_action)).toEqual(['trigger']);
      // Nothing lost: the incident is open, its trigger still pending (not recorded as sent).
      expect((await statusBySlug(project)).get('job')).toMatchObject({ state: 'down', incidentOpen: true, pendingEvents: 1 });

      const recovered = await project.run(['check'], { env: ENV });
      expect(recovered).toMatchObject({ code: 0, stderr: '' });
      // Sent again (the dedup key makes it the same incident at PagerDuty), now recorded as delivered.
      expect(pd.requests.map((r) => [r.body.event_action, r.body.dedup_key])).toEqual([
        ['trigger', 'medic-heartbeat-job'],
        ['trigger', 'medic-heartbeat-job'],
      ]);
      expect((await statusBySlug(project)).get('job')).toMatchObject({ state: 'down', incidentOpen: true, pendingEvents: 0, delivery: 'sent' });
    } finally {
      await db.drop();
    }
  });
});
