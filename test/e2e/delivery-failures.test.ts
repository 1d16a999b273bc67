import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { INVALID_ROUTING_KEY_FIX } from '../fixtures/pagerduty.js';
import { ROUTING_KEY, statusBySlug, tempProject, type Project } from '../helpers/cli.js';
import { badRequestJson, badRequestText, refusedUrl, serverError, startPdServer, tooMany, type PdServer, type Reply } from '../helpers/pd-server.js';

const MIN = 60_000;
const R = Date.parse('2026-03-02T09:00:00Z');
/** Registered at R with interval 5m and grace 1m: down from R + 6m. */
const DOWN = R + 6 * MIN;
const ENV = { PAGERDUTY_ROUTING_KEY: ROUTING_KEY };
const QUIET = { code: 0, stdout: '', stderr: '' };

let pd: PdServer | undefined;
let forwarder: { server: Server; sockets: Set<Socket> } | undefined;
let project: Project;

afterEach(async () => {
  await pd?.close();
  pd = undefined;
  if (forwarder) {
    for (const s of forwarder.sockets) s.destroy();
    await new Promise((r) => forwarder!.server.close(r));
    forwarder = undefined;
  }
  project?.remove();
});

/** One service, registered by a check at R, paging one target at `eventsUrl`. */
async function downService(eventsUrl: string, target: Record<string, unknown> = {}): Promise<Project> {
  const p = tempProject({
    // A short delivery budget keeps the checks that cannot deliver short.
    checker: { gapThreshold: '30d', deliveryBudget: '3s' },
    targets: { oncall: { type: 'pagerduty', eventsUrl, ...target } },
    services: [{ slug: 'nightly-backup', name: 'Nightly Backup', team: 'platform', priority: 'P2', interval: '5m', grace: '1m' }],
  });
  expect(await p.run(['check'], { at: R, frozen: true, env: ENV })).toEqual(QUIET);
  return p;
}

const actions = (requests: { body: any }[]) => requests.map((r) => `${r.body.event_action} ${r.body.dedup_key}`);
const TRIGGER = 'trigger medic-heartbeat-nightly-backup';
const RESOLVE = 'resolve medic-heartbeat-nightly-backup';

/** Listens on the port of a URL that refused connections and passes every connection on to `to`. */
function forward(from: string, to: string): Promise<void> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const upstream = createConnection(Number(new URL(to).port), '127.0.0.1');
    for (const s of [socket, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => (s === socket ? upstream : socket).destroy());
    }
    socket.pipe(upstream).pipe(socket);
  });
  forwarder = { server, sockets };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(new URL(from).port), '127.0.0.1', () => resolve());
  });
}

describe('delivery failures', { timeout: 180_000 }, () => {
  it.each<[string, Reply]>([
    ['500', serverError()],
    ['429', tooMany()],
  ])('a %s then 202 is retried inside the run: exit 0, delivered exactly once', async (_status, first) => {
    pd = await startPdServer();
    pd.replyQueue(first);
    project = await downService(pd.url);

    expect(await project.run(['check'], { at: DOWN, env: ENV })).toEqual(QUIET);
    expect(actions(pd.requests)).toEqual([TRIGGER, TRIGGER]);
    expect(pd.requests[1]!.body).toEqual(pd.requests[0]!.body);
    expect(actions(pd.accepted)).toEqual([TRIGGER]);
    expect((await statusBySlug(project, { at: DOWN + 30_000 })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, incidentOpen: true });

    expect(await project.run(['check'], { at: DOWN + MIN, env: ENV })).toEqual(QUIET);
    expect(pd.requests).toHaveLength(2);
  });

  it('a 400 with PagerDuty\'s JSON errors exits 76 quoting them with the guide\'s "Invalid Routing Key" steps; its resolve is never sent', async () => {
    pd = await startPdServer();
    pd.replyQueue(badRequestJson(['Invalid routing key']));
    project = await downService(pd.url);

    const res = await project.run(['check'], { at: DOWN, env: ENV });
    expect(res.code).toBe(76);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('Event object is invalid');
    expect(res.stderr).toContain('Invalid routing key');
    expect(res.stderr).toContain('HTTP 400');
    for (const step of INVALID_ROUTING_KEY_FIX) expect(res.stderr).toContain(step);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(actions(pd.requests)).toEqual([TRIGGER]);
    // Rejected for good: not retried, not pending.
    expect((await statusBySlug(project, { at: DOWN + 30_000 })).get('nightly-backup')).toMatchObject({ pendingEvents: 0 });
    expect((await project.run(['check'], { at: DOWN + MIN, env: ENV })).code).toBe(0);
    expect(pd.requests).toHaveLength(1);

    // The service comes back: there is no incident to resolve, so nothing is sent.
    expect(await project.run(['beat', 'nightly-backup'], { at: DOWN + 2 * MIN, env: ENV })).toEqual(QUIET);
    expect(await project.run(['check'], { at: DOWN + 2 * MIN + 10_000, env: ENV })).toEqual(QUIET);
    expect(pd.requests).toHaveLength(1);
    expect((await statusBySlug(project, { at: DOWN + 3 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, incidentOpen: false });
  });

  it('a plain-text 400 exits 76 quoting the text', async () => {
    pd = await startPdServer();
    const text = 'Bad Request: the event body could not be parsed';
    pd.reply(() => badRequestText(text));
    project = await downService(pd.url);

    const res = await project.run(['check'], { at: DOWN, env: ENV });
    expect(res.code).toBe(76);
    expect(res.stderr).toContain(text);
    expect(res.stderr).toContain('HTTP 400');
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(actions(pd.requests)).toEqual([TRIGGER]);
  });

  it('a refused connection exits 75 with the event pending; the next check delivers it once, trigger before resolve', async () => {
    const url = await refusedUrl();
    project = await downService(url);

    const res = await project.run(['check'], { at: DOWN, env: ENV });
    expect(res.code).toBe(75);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('connection refused');
    expect(res.stderr).not.toMatch(/^\s+at /m);
    const waiting = (await statusBySlug(project, { at: DOWN + 2 * MIN })).get('nightly-backup');
    expect(waiting.pendingEvents).toBeGreaterThanOrEqual(1);
    expect(waiting.incidentOpen).toBe(true);

    // Recovered before PagerDuty was reachable again: both events now wait, in order.
    expect(await project.run(['beat', 'nightly-backup'], { at: DOWN + 3 * MIN, env: ENV })).toEqual(QUIET);
    pd = await startPdServer();
    await forward(url, pd.url);
    // Well after any retry time the failed run may have set (the next run, or a minute or two later).
    expect(await project.run(['check'], { at: DOWN + 5 * MIN, env: ENV })).toEqual(QUIET);
    expect(actions(pd.requests)).toEqual([TRIGGER, RESOLVE]);
    expect(actions(pd.accepted)).toEqual([TRIGGER, RESOLVE]);
    expect((await statusBySlug(project, { at: DOWN + 6 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, incidentOpen: false });

    expect(await project.run(['check'], { at: DOWN + 7 * MIN, env: ENV })).toEqual(QUIET);
    expect(pd.requests).toHaveLength(2);
  });

  it('a server that never answers (target timeout 1s) exits 75 with the event pending; the next check delivers it once', async () => {
    pd = await startPdServer();
    pd.reply(() => 'hang');
    project = await downService(pd.url, { timeout: '1s' });

    const res = await project.run(['check'], { at: DOWN, env: ENV });
    expect(res.code).toBe(75);
    expect(res.stderr).toMatch(/timeout/i);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(pd.requests.length).toBeGreaterThanOrEqual(1);
    expect(pd.accepted).toHaveLength(0);
    expect((await statusBySlug(project, { at: DOWN + 2 * MIN })).get('nightly-backup').pendingEvents).toBeGreaterThanOrEqual(1);

    pd.reply(() => 202);
    expect(await project.run(['beat', 'nightly-backup'], { at: DOWN + 3 * MIN, env: ENV })).toEqual(QUIET);
    expect(await project.run(['check'], { at: DOWN + 5 * MIN, env: ENV })).toEqual(QUIET);
    expect(actions(pd.accepted)).toEqual([TRIGGER, RESOLVE]);
    expect(pd.accepted[0]!.body).toEqual(pd.requests[0]!.body);
    expect((await statusBySlug(project, { at: DOWN + 6 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0, incidentOpen: false });
  });

  it('an unset routing key variable exits 78 naming it; the event goes out once the variable is set', async () => {
    pd = await startPdServer();
    project = await downService(pd.url, { routingKeyEnv: 'MEDIC_PD_KEY' });

    const res = await project.run(['check'], { at: DOWN });
    expect(res.code).toBe(78);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain('MEDIC_PD_KEY');
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(pd.requests).toHaveLength(0);
    expect((await statusBySlug(project, { at: DOWN + 30_000 })).get('nightly-backup')).toMatchObject({ pendingEvents: 1, incidentOpen: true });

    // Still unset a minute later: still 78, still nothing sent.
    expect((await project.run(['check'], { at: DOWN + MIN })).code).toBe(78);
    expect(pd.requests).toHaveLength(0);

    expect(await project.run(['check'], { at: DOWN + 2 * MIN, env: { MEDIC_PD_KEY: ROUTING_KEY } })).toEqual(QUIET);
    expect(actions(pd.requests)).toEqual([TRIGGER]);
    expect(pd.requests[0]!.body.routing_key).toBe(ROUTING_KEY);
    expect(pd.requests[0]!.body.payload.timestamp).toBe(new Date(DOWN).toISOString());
    expect((await statusBySlug(project, { at: DOWN + 3 * MIN })).get('nightly-backup')).toMatchObject({ pendingEvents: 0 });
  });
});

describe('a PagerDuty answer that echoes the routing key', { timeout: 60_000 }, () => {
  it('is redacted before it reaches stderr or the database', async () => {
    pd = await startPdServer();
    pd.reply(() => badRequestJson([`Invalid routing key ${ROUTING_KEY}`]));
    project = await downService(pd.url);

    const res = await project.run(['check'], { at: DOWN, env: ENV });
    expect(res.code).toBe(76);
    expect(res.stderr).toContain('Invalid routing key a1b2…o5p6');
    expect(res.stderr).not.toContain(ROUTING_KEY);
    const { readFileSync, readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    for (const file of readdirSync(project.dir).filter((f) => f.startsWith('medic.db'))) {
      expect(readFileSync(join(project.dir, file)).includes(ROUTING_KEY), file).toBe(false);
    }
  });
});
