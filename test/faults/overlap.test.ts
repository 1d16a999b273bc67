/**
 * Fault injection: two and five `medic check` runs released at the same instant (each Node started
 * first and held at a gate, so they reach the database together), while the stand-in answers
 * slowly (200-400 ms, through a proxy) so the runs overlap. Exactly one trigger per incident, then
 * one resolve per incident, reaches the stand-in; every run exits 0 and prints nothing on stderr.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY, MIN, fileTempDir, medic, spawnMedic, startProxy } from '../helpers/faults.js';
import { startPdServer } from '../helpers/pd-server.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const SLUGS = Array.from({ length: 10 }, (_, i) => `svc-${i}`);

const tmp = fileTempDir('overlap');
afterAll(() => tmp.remove());

describe('overlapping medic check runs', () => {
  it.each([2, 5])('%i runs started together: one trigger, then one resolve, per incident', { timeout: 120_000 }, async (runs) => {
    const pd = await startPdServer();
    const proxy = await startProxy(pd.url, { delayMs: () => 200 + Math.floor(Math.random() * 200) });
    try {
      const dir = mkdtempSync(join(tmp.dir, `runs-${runs}-`));
      const config = join(dir, 'medic.config.json');
      writeFileSync(
        config,
        JSON.stringify({
          targets: { oncall: { type: 'pagerduty', eventsUrl: proxy.url } },
          defaults: { interval: '5m', grace: '1m' },
          services: SLUGS.map((slug) => ({ slug })),
          checker: { gapThreshold: '30d' },
        }),
      );
      const env = { PAGERDUTY_ROUTING_KEY: KEY };
      expect((await medic(['--config', config, 'check'], { cwd: dir, env, at: T0 })).code).toBe(0);

      const together = async (at: number) => {
        let go!: () => void;
        const gate = new Promise<void>((resolve) => (go = resolve));
        const gated = Array.from({ length: runs }, () => spawnMedic(['--config', config, 'check', '-v'], { cwd: dir, env, at, gate }));
        await Promise.all(gated.map((g) => g.ready));
        go();
        const results = await Promise.all(gated.map((g) => g.done));
        for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0, stderr: '' });
        return results.filter((r) => r.stdout.includes('is running; leaving this minute to it')).length;
      };

      const leftDown = await together(T0 + 7 * MIN);
      expect(pd.accepted.map((r) => r.body.dedup_key).sort()).toEqual(SLUGS.map((s) => `medic-heartbeat-${s}`).sort());
      expect(pd.accepted.every((r) => r.body.event_action === 'trigger')).toBe(true);

      for (const slug of SLUGS) expect((await medic(['--config', config, 'beat', slug], { cwd: dir, env, at: T0 + 8 * MIN })).code).toBe(0);
      const leftUp = await together(T0 + 9 * MIN);
      for (const slug of SLUGS) {
        const actions = pd.accepted.filter((r) => r.body.dedup_key === `medic-heartbeat-${slug}`).map((r) => r.body.event_action);
        expect(actions, slug).toEqual(['trigger', 'resolve']);
      }
      expect(pd.requests).toHaveLength(2 * SLUGS.length);
      // A guard on the injection: the runs did overlap, so some of them found the lock taken.
      expect(leftDown + leftUp).toBeGreaterThanOrEqual(1);
      console.info(`${runs} overlapping runs: ${leftDown} and ${leftUp} of ${runs} found the lock taken and left`);
    } finally {
      await proxy.close();
      await pd.close();
    }
  });
});
