/**
 * Fault injection, clock: the machine clock steps back an hour between two checks (an NTP
 * correction, a VM restored from a snapshot). The clock is injected at the command level:
 * `main(argv, env, io, { now, sleep })` in-process, with a real SQLite file and the real HTTP
 * sender against the stand-in; `sleep` moves the injected clock instead of waiting. No false
 * trigger, no stuck service: beats after the step keep the service up, and when it really goes
 * quiet it goes down at the deadline on the new clock; an incident open before the step resolves
 * on the first beat after it, and an event waiting for delivery is not held back by the step.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY, MIN, fileTempDir, inProcess } from '../helpers/faults.js';
import type { PdServer } from '../helpers/pd-server.js';
import { standIns } from '../helpers/standins.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const HOUR = 60 * MIN;

const tmp = fileTempDir('clock');
afterAll(() => tmp.remove());
const startStandIn = standIns();

interface Clocked {
  pd: PdServer;
  /** The injected clock: set it, step it. */
  clock: { t: number };
  run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  check(): Promise<void>;
  beat(): Promise<void>;
  state(): Promise<{ state: string; incidentOpen: boolean; pendingEvents: number }>;
  triggers(): string[];
}

/** One service "job" (interval 5m, grace 1m) paging the stand-in, run in-process on an injected clock. */
async function clocked(): Promise<Clocked> {
  const pd = await startStandIn();
  const dir = mkdtempSync(join(tmp.dir, 'case-'));
  const config = join(dir, 'medic.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
      services: [{ slug: 'job', interval: '5m', grace: '1m' }],
    }),
  );
  const clock = { t: T0 };
  const env = { PAGERDUTY_ROUTING_KEY: KEY, HOME: dir, TZ: 'UTC' };
  const run = (...args: string[]) =>
    inProcess(['--config', config, ...args], {
      cwd: dir,
      env,
      now: () => clock.t,
      sleep: async (ms) => {
        clock.t += ms;
      },
    });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    expect(r, `${args.join(' ')} at ${new Date(clock.t).toISOString()}: ${r.stderr}`).toMatchObject({ code: 0, stderr: '' });
  };
  return {
    pd,
    clock,
    run,
    check: () => ok('check'),
    beat: () => ok('beat', 'job'),
    async state() {
      const r = await run('status', '--json');
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout)[0];
    },
    triggers: () => pd.accepted.filter((r) => r.body.event_action === 'trigger').map((r) => r.body.payload.timestamp),
  };
}

describe('the clock steps back an hour between two checks', { timeout: 120_000 }, () => {
  it('beats after the step keep the service up; when it goes quiet it pages at the new-clock deadline, once', async () => {
    const c = await clocked();
    // Ten minutes on the old clock: a beat every two minutes, a check every minute.
    for (let m = 0; m <= 10; m++) {
      c.clock.t = T0 + m * MIN;
      if (m % 2 === 0) await c.beat();
      await c.check();
    }
    // The step: the next check runs an hour earlier than the last one.
    const back = T0 + 11 * MIN - HOUR;
    for (let m = 0; m <= 20; m++) {
      c.clock.t = back + m * MIN;
      if (m % 2 === 0) await c.beat();
      await c.check();
      expect((await c.state()).state, `${m} min after the step`).toBe('up');
    }
    expect(c.pd.requests, 'a false trigger after the step').toHaveLength(0);

    // It goes quiet: the last beat was at back + 20m, on the new clock.
    const lastBeat = back + 20 * MIN;
    const deadline = lastBeat + 6 * MIN;
    for (const at of [lastBeat + 5 * MIN, deadline - 1000]) {
      c.clock.t = at;
      await c.check();
    }
    expect(c.pd.requests, 'paged before the deadline').toHaveLength(0);
    c.clock.t = deadline;
    await c.check();
    expect(c.triggers()).toEqual([new Date(deadline).toISOString()]);
    c.clock.t = deadline + MIN;
    await c.check();
    expect(c.pd.requests).toHaveLength(1);
    expect(await c.state()).toMatchObject({ state: 'down', incidentOpen: true, pendingEvents: 0 });
  });

  it('an incident opened before the step resolves on the first beat after it, and no new one opens', async () => {
    const c = await clocked();
    await c.check(); // registered at T0, never beats
    c.clock.t = T0 + 6 * MIN;
    await c.check();
    expect(c.triggers()).toEqual([new Date(T0 + 6 * MIN).toISOString()]);

    const back = T0 + 7 * MIN - HOUR;
    c.clock.t = back;
    await c.check();
    expect(c.pd.requests, 'nothing changes until a beat comes').toHaveLength(1);
    c.clock.t = back + MIN;
    await c.beat();
    await c.check();
    expect(c.pd.accepted.map((r) => r.body.event_action)).toEqual(['trigger', 'resolve']);
    for (let m = 2; m <= 12; m++) {
      c.clock.t = back + m * MIN;
      if (m % 2 === 0) await c.beat();
      await c.check();
    }
    expect(c.pd.requests).toHaveLength(2);
    expect(await c.state()).toMatchObject({ state: 'up', incidentOpen: false, pendingEvents: 0 });
  });

  it('a trigger still waiting for delivery when the clock steps back goes out at the next check, not an hour later', async () => {
    const c = await clocked();
    await c.check();
    c.pd.reply(() => ({ status: 503, body: '{"status":"unavailable"}', contentType: 'application/json', headers: { 'retry-after': '3600' } }));
    c.clock.t = T0 + 6 * MIN;
    const deferred = await c.run('check');
    expect(deferred.code, deferred.stderr).toBe(75);

    c.pd.reply(() => 202);
    c.clock.t = T0 + 7 * MIN - HOUR;
    const after = await c.run('check');
    expect(after, after.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(c.triggers()).toEqual([new Date(T0 + 6 * MIN).toISOString()]);
    expect(await c.state()).toMatchObject({ incidentOpen: true, pendingEvents: 0 });
  });
});
