/**
 * Fault injection, PagerDuty side: the stand-in answers 500, 429, a plain-text 400, hangs past the
 * target's 1s timeout, refuses connections or drops the socket mid-answer; then it recovers.
 * The real binary runs each check at a chosen instant (libfaketime). Afterwards every event was
 * accepted exactly once, a service's trigger before its resolve, and the exit codes were right
 * (0 delivered, 75 left for the next run, 76 rejected).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KEY, MIN, fileTempDir, medic, startProxy, type Exit, type Proxy } from '../helpers/faults.js';
import { badRequestText, serverError, startPdServer, tooMany, type PdServer, type Reply } from '../helpers/pd-server.js';
import { eventProblems } from '../helpers/pd-rules.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
/** interval 5m + grace 1m: registered at T0, down from T0+6m. */
const AT_DOWN = T0 + 7 * MIN;
const AT_BEAT = T0 + 8 * MIN;
const AT_UP = T0 + 9 * MIN;
const SLUGS = ['alpha', 'bravo', 'charlie'];

const tmp = fileTempDir('pd');
afterAll(() => tmp.remove());
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanups.splice(0)) await close();
});

interface Rig {
  pd: PdServer;
  run(args: string[], at: number, onStdout?: (text: string) => void): Promise<Exit>;
  beatAll(): Promise<void>;
  status(at: number): Promise<{ slug: string; pendingEvents: number; incidentOpen: boolean }[]>;
}

/** A project whose three services were registered at T0, delivering to the stand-in (or through `via`). */
async function rig(via?: (pdUrl: string) => Promise<Proxy>): Promise<Rig> {
  const pd = await startPdServer();
  cleanups.push(() => pd.close());
  let eventsUrl = pd.url;
  if (via) {
    const proxy = await via(pd.url);
    cleanups.push(() => proxy.close());
    eventsUrl = proxy.url;
  }
  const dir = mkdtempSync(join(tmp.dir, 'case-'));
  const config = join(dir, 'medic.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      targets: { oncall: { type: 'pagerduty', eventsUrl, timeout: '1s' } },
      defaults: { interval: '5m', grace: '1m' },
      services: SLUGS.map((slug) => ({ slug })),
      checker: { gapThreshold: '30d' },
      flap: { maxTriggers: 1000 },
    }),
  );
  const run = (args: string[], at: number, onStdout?: (text: string) => void) =>
    medic(['--config', config, ...args], { cwd: dir, at, env: { PAGERDUTY_ROUTING_KEY: KEY }, onStdout });
  const registered = await run(['check'], T0);
  expect(registered, registered.stderr).toMatchObject({ code: 0, stderr: '' });
  return {
    pd,
    run,
    async beatAll() {
      for (const slug of SLUGS) expect((await run(['beat', slug], AT_BEAT)).code).toBe(0);
    },
    async status(at) {
      const out = await run(['status', '--json'], at);
      expect(out.code, out.stderr).toBe(0);
      return JSON.parse(out.stdout);
    },
  };
}

const actionsFor = (pd: PdServer, slug: string, list = pd.accepted) =>
  list.filter((r) => r.body?.dedup_key === `medic-heartbeat-${slug}`).map((r) => r.body.event_action);

/** Every service: exactly one trigger then one resolve accepted; every body valid; nothing left. */
async function expectEachDeliveredOnceInOrder(r: Rig): Promise<void> {
  for (const slug of SLUGS) expect(actionsFor(r.pd, slug), slug).toEqual(['trigger', 'resolve']);
  for (const req of r.pd.accepted) expect(eventProblems(req.body)).toEqual([]);
  for (const row of await r.status(AT_UP)) expect(row).toMatchObject({ pendingEvents: 0, incidentOpen: false });
}

describe('PagerDuty fails for a while inside one run, then recovers: retried in the run, exit 0', { timeout: 120_000 }, () => {
  it.each<[string, () => Reply, RegExp]>([
    ['500 Internal Server Error', serverError, /HTTP 500.*will retry/],
    ['429 Too Many Requests', tooMany, /HTTP 429.*will retry/],
    ['hanging past the 1s timeout', () => 'hang', /no answer within 1000 ms.*; will retry/],
    ["closing the socket mid-response ('destroy')", () => 'destroy', /connection was closed before .*answered; will retry/],
  ])('%s, twice before the triggers and twice before the resolves', async (_name, fault, said) => {
    const r = await rig();
    r.pd.replyQueue(fault(), fault());
    const down = await r.run(['check', '-v'], AT_DOWN);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(said);
    expect(r.pd.requests).toHaveLength(3 + 2);

    await r.beatAll();
    r.pd.replyQueue(fault(), fault());
    const up = await r.run(['check', '-v'], AT_UP);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(said);
    expect(r.pd.requests).toHaveLength(2 * (3 + 2));
    await expectEachDeliveredOnceInOrder(r);
  });

  it('refusing connections (nothing listening), until it listens again', async () => {
    let proxy: Proxy | undefined;
    const r = await rig(async (url) => (proxy = await startProxy(url, { open: false })));
    // The port starts listening as soon as medic reports a refused connection, so the retry lands.
    const reopenOnRefusal = () => {
      let opened = false;
      return (text: string) => {
        if (!opened && text.includes('connection refused; will retry')) {
          opened = true;
          void proxy!.open();
        }
      };
    };
    const down = await r.run(['check', '-v'], AT_DOWN, reopenOnRefusal());
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(/connection refused; will retry/);

    await r.beatAll();
    await proxy!.shut();
    const up = await r.run(['check', '-v'], AT_UP, reopenOnRefusal());
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/connection refused; will retry/);
    expect(r.pd.requests).toHaveLength(6); // refused connections never reached it
    await expectEachDeliveredOnceInOrder(r);
  });
});

describe('PagerDuty fails past the run: exit 75, the events wait, the next run delivers them in order', { timeout: 120_000 }, () => {
  it.each<[string, number]>([
    ['503 with Retry-After: 3600', 503],
    ['429 with Retry-After: 3600', 429],
  ])('%s on every trigger; the services recover before the next run, whose resolves queue behind the triggers', async (_name, status) => {
    const r = await rig();
    r.pd.reply(() => ({ status, body: '{"status":"unavailable","message":"try later"}', contentType: 'application/json', headers: { 'retry-after': '3600' } }));
    const down = await r.run(['check'], AT_DOWN);
    expect(down.code).toBe(75);
    expect(down.stderr).toMatch(new RegExp(`3 events not yet delivered \\(HTTP ${status}.*the next check retries`));
    expect(r.pd.accepted).toHaveLength(0);
    expect(r.pd.requests).toHaveLength(3); // Retry-After outlasts the run: no retry inside it
    for (const row of await r.status(AT_DOWN)) expect(row).toMatchObject({ pendingEvents: 1, incidentOpen: true });

    await r.beatAll();
    r.pd.reply(() => 202);
    const up = await r.run(['check'], AT_UP);
    expect(up, up.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(r.pd.requests).toHaveLength(3 + 6);
    await expectEachDeliveredOnceInOrder(r);
  });
});

describe('Retry-After: 0 on every answer', { timeout: 120_000 }, () => {
  it('is no tight loop: at most 5 requests per event per run, then exit 75 with the events queued', async () => {
    const r = await rig();
    r.pd.reply(() => ({ status: 503, body: '{"status":"unavailable","message":"try later"}', contentType: 'application/json', headers: { 'retry-after': '0' } }));
    const down = await r.run(['check'], AT_DOWN);
    expect(down.code).toBe(75);
    expect(down.stderr).toMatch(/3 events not yet delivered \(HTTP 503.*the next check retries/);
    for (const slug of SLUGS) expect(actionsFor(r.pd, slug, r.pd.requests)).toHaveLength(5);
    for (const row of await r.status(AT_DOWN)) expect(row).toMatchObject({ pendingEvents: 1, incidentOpen: true });
  });
});

describe('PagerDuty refuses a trigger with a plain-text 400', { timeout: 120_000 }, () => {
  it('exit 76 quoting the text at every check; it is kept, not retried, its resolve waits behind it; the other services are unaffected', async () => {
    const r = await rig();
    const text = 'Event object is invalid: payload.severity must be one of critical, error, warning, info';
    r.pd.reply((req) => (req.body?.dedup_key === 'medic-heartbeat-alpha' && req.body.event_action === 'trigger' ? badRequestText(text) : 202));
    const down = await r.run(['check'], AT_DOWN);
    expect(down.code).toBe(76);
    expect(down.stderr).toContain('PagerDuty refused the trigger for alpha (target oncall, HTTP 400)');
    expect(down.stderr).toContain(text);

    await r.beatAll();
    const up = await r.run(['check'], AT_UP);
    expect(up.code).toBe(76);
    expect(up.stderr).toContain('PagerDuty refused the trigger for alpha (target oncall, HTTP 400)');
    expect(up.stderr).toContain('it and 1 later event stay queued');
    expect(actionsFor(r.pd, 'alpha', r.pd.requests)).toEqual(['trigger']);
    for (const slug of ['bravo', 'charlie']) expect(actionsFor(r.pd, slug)).toEqual(['trigger', 'resolve']);
    expect(r.pd.requests).toHaveLength(5);
    const rows = new Map((await r.status(AT_UP)).map((row) => [row.slug, row]));
    expect(rows.get('alpha')).toMatchObject({ pendingEvents: 2, incidentOpen: false });
    for (const slug of ['bravo', 'charlie']) expect(rows.get(slug)).toMatchObject({ pendingEvents: 0, incidentOpen: false });
  });
});
