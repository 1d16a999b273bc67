/**
 * Checker-gap protection end to end (default `checker.gapThreshold`: 10m): when `medic check` itself
 * did not run for longer than that, deadlines inside its blind period do not page; it says once
 * that it was blind from A to B, and the services get a fresh interval × threshold + grace.
 * Real binary under faketime, real SQLite, the PagerDuty stand-in counting.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { iso, MIN, SEC, startRig, T0 } from '../helpers/trust.js';

const NOTICE = /medic check was not running from/g;

async function checksEveryMinuteThenSilence(gapMs: number) {
  // backup: beats once at T0, deadline T0+6m. steady: 1h interval, its deadline is far away.
  const rig = await startRig([{ slug: 'backup' }, { slug: 'steady', interval: '1h' }], { checker: {} });
  onTestFinished(rig.close);
  await rig.ok(T0, ['check']);
  await rig.ok(T0, ['beat', 'backup']);
  await rig.ok(T0, ['beat', 'steady']);
  for (let m = 1; m <= 3; m++) expect((await rig.ok(T0 + m * MIN, ['check'])).stderr).toBe('');
  const lastRun = T0 + 3 * MIN;
  const first = await rig.ok(lastRun + gapMs, ['check']);
  return { rig, lastRun, end: lastRun + gapMs, first };
}

describe('checker-gap protection', { timeout: 180_000 }, () => {
  it.each([
    ['just under the threshold (9m)', 9 * MIN],
    ['exactly the threshold (10m: not more than it)', 10 * MIN],
  ])('a gap %s: the deadline inside it pages normally, dated at the deadline, and nothing is said', async (_label, gapMs) => {
    const { rig, first } = await checksEveryMinuteThenSilence(gapMs);
    expect(first.stderr).toBe('');
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.dedup_key).toBe('medic-heartbeat-backup');
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(T0 + 6 * MIN));
    expect(rig.resolves()).toHaveLength(0);
  });

  it('a gap just over the threshold (11m): no page, one notice "blind from A to B", status shows it, then a page after a fresh 6m if still silent', async () => {
    const { rig, lastRun, end, first } = await checksEveryMinuteThenSilence(11 * MIN);
    expect(rig.pd.requests).toHaveLength(0);
    expect(first.stderr.match(NOTICE)).toHaveLength(1);
    expect(first.stderr).toContain(`medic check was not running from ${iso(lastRun)} to ${iso(end)} (11m)`);
    expect(first.stderr).toMatch(/1 service whose deadline fell in that blind period/);

    const table = await rig.ok(end + 30 * SEC, ['status']);
    expect(table.stdout).toContain(`medic check was blind from ${iso(lastRun)} to ${iso(end)}`);
    const status = await rig.status(end + 30 * SEC);
    expect(status.get('backup')).toMatchObject({ deadline: iso(end + 6 * MIN), incidentOpen: false });
    // steady's deadline (T0+1h1m) did not fall in the gap: untouched.
    expect(status.get('steady')).toMatchObject({ deadline: iso(T0 + 61 * MIN) });

    // Said once: the following runs are quiet again, and nothing pages before the fresh deadline.
    for (let at = end + MIN; at < end + 6 * MIN; at += MIN) expect((await rig.ok(at, ['check'])).stderr).toBe('');
    await rig.ok(end + 6 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await rig.ok(end + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(end + 6 * MIN));
    expect(rig.triggers()[0]!.body.payload.custom_details.last_seen).toBe(iso(T0));

    const history = JSON.parse((await rig.ok(end + 7 * MIN, ['history', 'backup', '--since', '1h', '--json'])).stdout);
    expect(history.events.filter((e: any) => e.kind === 'state').map((e: any) => [e.to, e.at])).toEqual([
      ['unknown', iso(end)],
      ['down', iso(end + 6 * MIN)],
    ]);
  });

  it('a gap just over the threshold, and the service beats again within its fresh window: no page', async () => {
    const { rig, end } = await checksEveryMinuteThenSilence(11 * MIN);
    // In time order: a beat recorded before a check dated earlier would be a beat from the future
    // for that check, which counts from the check's own clock.
    await rig.ok(end + MIN, ['check']);
    await rig.ok(end + 2 * MIN, ['beat', 'backup']);
    for (let at = end + 2 * MIN; at <= end + 7 * MIN; at += MIN) await rig.ok(at, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
  });

  it('checks that ran on a broken config (exit 78) are not a blind period: once fixed, the service that went down meanwhile pages at once', async () => {
    const rig = await startRig([{ slug: 'backup' }, { slug: 'steady', interval: '1h' }], { checker: {} });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    await rig.ok(T0, ['beat', 'steady']);
    const good = JSON.parse(readFileSync(rig.project.configPath, 'utf8'));
    // A schema mistake in another service: beats are still recorded, checks exit 78 every minute.
    rig.project.writeConfig({ ...good, services: [good.services[0], { ...good.services[1], grace: '5 minutes' }] });
    for (let m = 1; m <= 20; m++) expect((await rig.medic(T0 + m * MIN, ['check'])).code).toBe(78);
    await rig.ok(T0 + 20 * MIN, ['beat', 'steady']);
    rig.project.writeConfig(good);
    const fixed = await rig.ok(T0 + 21 * MIN, ['check']);
    expect(fixed.stderr).not.toMatch(NOTICE);
    expect(rig.triggers('backup')).toHaveLength(1);
    expect(rig.triggers('backup')[0]!.body.payload.timestamp).toBe(iso(T0 + 6 * MIN));
    expect(rig.triggers('steady')).toHaveLength(0);
  });
});
