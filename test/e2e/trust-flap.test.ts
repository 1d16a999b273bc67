/**
 * Flap damping end to end: a service with interval 1m, grace 0 that alternates beat / missed
 * deadline for 20 cycles must not open an incident each time (issue 3: at most 3 triggers), shows
 * "flapping" while the resolve is held, and resolves only once it has stayed up for the whole
 * `flap.window`. Real binary under faketime, real SQLite, the PagerDuty stand-in counting.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { iso, MIN, startRig, T0 } from '../helpers/trust.js';

const CYCLES = 20;

describe('flap damping', { timeout: 300_000 }, () => {
  // 20 cycles take 40 minutes: longer than a 30m window (the flapping outlasts the window that
  // counted its first triggers), shorter than the default 1h.
  it.each([
    ['the defaults (window 1h, maxTriggers 3)', 60 * MIN, {}],
    ['"flap": { "window": "30m", "maxTriggers": 3 }', 30 * MIN, { window: '30m', maxTriggers: 3 }],
  ])('%s: 20 beat / missed-deadline cycles give at most 3 triggers; the last incident resolves once, only after a whole stable window', async (_label, WINDOW, flap) => {
    const rig = await startRig([{ slug: 'flaky', interval: '1m', grace: '0s' }], {
      // Default gap threshold (10m): every step below checks at least once a minute.
      checker: {},
      flap,
    });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);

    // Cycle i: a beat at T0 + 2i min, then its deadline (1m later, grace 0) passes with no beat.
    let sawFlapping = false;
    for (let i = 0; i < CYCLES; i++) {
      const beatAt = T0 + 2 * i * MIN;
      await rig.ok(beatAt, ['beat', 'flaky']);
      await rig.ok(beatAt, ['check']);
      const row = (await rig.status(beatAt)).get('flaky')!;
      if (row.state === 'flapping') {
        sawFlapping = true;
        expect(row).toMatchObject({ flapping: true, incidentOpen: true });
      }
      await rig.ok(beatAt + MIN, ['check']);
    }
    expect(sawFlapping).toBe(true);
    expect(rig.triggers().length).toBeGreaterThanOrEqual(1);
    const when = (reqs: typeof rig.pd.requests) => reqs.map((r) => r.body.payload?.timestamp ?? iso(r.at));
    expect(rig.triggers().length, `triggers for incidents that went down at ${when(rig.triggers()).join(', ')}`).toBeLessThanOrEqual(3);
    const triggersWhileFlapping = rig.triggers().length;
    const resolvesWhileFlapping = rig.resolves().length;
    // Every incident but the one still held has been resolved; that one is still open.
    expect(resolvesWhileFlapping).toBe(triggersWhileFlapping - 1);

    // From here it stays up: a beat every minute. The last recovery is at T0 + 40m.
    const back = T0 + 2 * CYCLES * MIN;
    for (let at = back; at < back + WINDOW; at += MIN) {
      await rig.ok(at, ['beat', 'flaky']);
      await rig.ok(at, ['check']);
    }
    const held = (await rig.status(back + WINDOW - MIN)).get('flaky')!;
    expect(held).toMatchObject({ state: 'flapping', flapping: true, incidentOpen: true });
    const table = await rig.ok(back + WINDOW - MIN, ['status']);
    expect(table.stdout).toMatch(/flaky\s+flapping\s.*resolve held until stable/);
    expect(rig.resolves()).toHaveLength(resolvesWhileFlapping);
    expect(rig.triggers()).toHaveLength(triggersWhileFlapping);

    // Stable for the whole window since it came back: exactly one resolve, no new trigger.
    await rig.ok(back + WINDOW, ['beat', 'flaky']);
    await rig.ok(back + WINDOW, ['check']);
    expect(rig.resolves()).toHaveLength(resolvesWhileFlapping + 1);
    expect(rig.resolves().at(-1)!.body).toMatchObject({ event_action: 'resolve', dedup_key: 'medic-heartbeat-flaky' });
    await rig.ok(back + WINDOW + MIN, ['beat', 'flaky']);
    await rig.ok(back + WINDOW + MIN, ['check']);
    expect(rig.resolves()).toHaveLength(resolvesWhileFlapping + 1);
    expect(rig.triggers()).toHaveLength(triggersWhileFlapping);
    expect((await rig.status(back + WINDOW + MIN)).get('flaky')).toMatchObject({ state: 'up', flapping: false, incidentOpen: false });

    const history = JSON.parse((await rig.ok(back + WINDOW + MIN, ['history', 'flaky', '--since', '2h', '--json'])).stdout);
    const lastUp = history.events.filter((e: any) => e.kind === 'state' && e.to === 'up').at(-1);
    expect(lastUp).toMatchObject({ from: 'flapping', at: iso(back + WINDOW) });
  });

  it('below maxTriggers nothing is held: two down/up cycles resolve at once', async () => {
    const rig = await startRig([{ slug: 'flaky', interval: '1m', grace: '0s' }], { checker: {}, flap: { window: '30m', maxTriggers: 3 } });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    for (let i = 0; i < 2; i++) {
      const beatAt = T0 + 2 * i * MIN;
      await rig.ok(beatAt, ['beat', 'flaky']);
      await rig.ok(beatAt, ['check']);
      await rig.ok(beatAt + MIN, ['check']);
    }
    await rig.ok(T0 + 4 * MIN, ['beat', 'flaky']);
    await rig.ok(T0 + 4 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(2);
    expect(rig.resolves()).toHaveLength(2);
    expect((await rig.status(T0 + 4 * MIN)).get('flaky')).toMatchObject({ state: 'up', flapping: false });
  });
});
