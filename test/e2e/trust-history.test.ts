/**
 * `medic history` end to end: after a run of beats, a down whose trigger PagerDuty accepted, and a
 * recovery whose resolve needed a retry (500, then 202), one timeline oldest first, and a strip of
 * beats per interval. Real binary under faketime, real SQLite, the PagerDuty stand-in.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { serverError } from '../helpers/pd-server.js';
import { iso, MIN, startRig, T0, type Rig } from '../helpers/trust.js';

const NOW = T0 + 20 * MIN;

/** Beats at T0, +1m, +2m; down at its deadline T0+8m (seen at T0+9m); back at T0+12m (seen at T0+13m). */
async function story(): Promise<Rig> {
  const rig = await startRig([{ slug: 'backup' }, { slug: 'other' }]);
  onTestFinished(rig.close);
  await rig.ok(T0, ['check']);
  for (const m of [0, 1, 2]) await rig.ok(T0 + m * MIN, ['beat', 'backup']);
  await rig.ok(T0 + 5 * MIN, ['check']);
  await rig.ok(T0 + 9 * MIN, ['check']);
  await rig.ok(T0 + 12 * MIN, ['beat', 'backup']);
  rig.pd.replyQueue(serverError(), 202);
  await rig.ok(T0 + 13 * MIN, ['check']);
  const mine = rig.pd.requests.filter((r) => r.body?.dedup_key === 'medic-heartbeat-backup').map((r) => r.body.event_action);
  expect(mine).toEqual(['trigger', 'resolve', 'resolve']);
  return rig;
}

describe('medic history', { timeout: 180_000 }, () => {
  it('--json: beats folded into runs, state changes dated when they really happened, deliveries with PagerDuty\'s answer, oldest first', async () => {
    const rig = await story();
    const r = await rig.ok(NOW, ['history', 'backup', '--since', '2h', '--json']);
    const h = JSON.parse(r.stdout);
    expect(h).toMatchObject({ slug: 'backup', since: iso(NOW - 120 * MIN), until: iso(NOW), bucketMs: 5 * MIN });
    expect(h.events).toEqual([
      { kind: 'beats', at: iso(T0), count: 3, until: iso(T0 + 2 * MIN) },
      {
        kind: 'state',
        at: iso(T0 + 8 * MIN),
        recordedAt: iso(T0 + 9 * MIN),
        from: 'up',
        to: 'down',
        reason: `no beat within 6m of the last beat (${iso(T0 + 2 * MIN)})`,
      },
      { kind: 'delivery', at: iso(T0 + 9 * MIN), target: 'oncall', action: 'trigger', outcome: 'delivered', detail: expect.stringContaining('Event processed') },
      { kind: 'beats', at: iso(T0 + 12 * MIN), count: 1, until: iso(T0 + 12 * MIN) },
      { kind: 'state', at: iso(T0 + 12 * MIN), recordedAt: iso(T0 + 13 * MIN), from: 'down', to: 'up', reason: `beat at ${iso(T0 + 12 * MIN)}` },
      { kind: 'delivery', at: iso(T0 + 13 * MIN), target: 'oncall', action: 'resolve', outcome: 'retry', detail: expect.stringMatching(/HTTP 500.*An internal error occurred/) },
      { kind: 'delivery', at: iso(T0 + 13 * MIN), target: 'oncall', action: 'resolve', outcome: 'delivered', detail: expect.stringContaining('"dedup_key":"medic-heartbeat-backup"') },
    ]);

    // One count per 5m bucket from NOW − 2h: the three beats in bucket 20, one in 22, none elsewhere.
    expect(h.strip).toHaveLength(24);
    expect(h.strip.reduce((a: number, b: number) => a + b, 0)).toBe(4);
    expect(h.strip[20]).toBe(3);
    expect(h.strip[22]).toBe(1);
  });

  it('the text: a strip with one mark per bucket that shows the missing beats, then the timeline oldest first', async () => {
    const rig = await story();
    const r = await rig.ok(NOW, ['history', 'backup', '--since', '2h']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`backup: beats per 5m from ${iso(NOW - 120 * MIN).replace('.000Z', 'Z')} to ${iso(NOW).replace('.000Z', 'Z')} (· = none)`);
    const marks = Array.from(lines[1]!.trim());
    expect(marks).toHaveLength(24);
    marks.forEach((mark, i) => {
      if (i === 20 || i === 22) expect(mark, `bucket ${i}`).not.toBe('·');
      else expect(mark, `bucket ${i}`).toBe('·');
    });

    const order = [
      /12:00:00Z {2}beat ×3 until 2026-11-26T12:02:00Z/,
      /12:08:00Z {2}up → down: no beat within 6m .*\(recorded 2026-11-26T12:09:00Z\)/,
      /12:09:00Z {2}trigger → oncall: delivered .*Event processed/,
      /12:12:00Z {2}beat$/,
      /12:12:00Z {2}down → up: beat at/,
      /12:13:00Z {2}resolve → oncall: delivered/,
    ];
    const at = order.map((re) => lines.findIndex((l) => re.test(l)));
    expect(at.every((i) => i > 1), `every line found:\n${r.stdout}`).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('--since limits the range; another service\'s records never show', async () => {
    const rig = await story();
    const h = JSON.parse((await rig.ok(NOW, ['history', 'backup', '--since', '10m', '--json'])).stdout);
    expect(h.events.every((e: any) => Date.parse(e.at) >= NOW - 10 * MIN)).toBe(true);
    expect(h.events.slice(0, 2).map((e: any) => [e.kind, e.at])).toEqual([
      ['beats', iso(T0 + 12 * MIN)],
      ['state', iso(T0 + 12 * MIN)],
    ]);
    expect(h.events.at(-1)).toMatchObject({ kind: 'delivery', action: 'resolve', outcome: 'delivered' });
    expect(h.strip).toHaveLength(2);
    const other = JSON.parse((await rig.ok(NOW, ['history', 'other', '--json'])).stdout);
    expect(other.events.every((e: any) => e.kind !== 'beats' && e.action !== 'resolve')).toBe(true);
  });

  it('a delivery retried in a later run: each run\'s failed attempt and the final answer are on the timeline', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    rig.pd.reply(() => serverError());
    expect((await rig.medic(T0 + 6 * MIN, ['check'])).code).toBe(75);
    rig.pd.reply(() => 202);
    await rig.ok(T0 + 20 * MIN, ['check']);
    const h = JSON.parse((await rig.ok(T0 + 21 * MIN, ['history', 'backup', '--since', '1h', '--json'])).stdout);
    const deliveries = h.events.filter((e: any) => e.kind === 'delivery');
    // Every failed attempt of the first run (retried in-run until its 2s budget ran out), then the answer.
    const failed = deliveries.slice(0, -1);
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(failed.map((e: any) => [e.action, e.outcome])).toEqual(failed.map(() => ['trigger', 'retry']));
    for (const e of failed) expect(e.detail).toMatch(/HTTP 500/);
    expect(failed.every((e: any) => Date.parse(e.at) < T0 + 20 * MIN)).toBe(true);
    expect(deliveries.at(-1)).toMatchObject({ action: 'trigger', outcome: 'delivered', at: iso(T0 + 20 * MIN), detail: expect.stringContaining('Event processed') });
    expect(rig.pd.requests.length).toBe(deliveries.length);
  });

  it('a service removed from the config: its history is read from the database (exit 0), marked as removed', async () => {
    const rig = await story();
    const config = JSON.parse(readFileSync(rig.project.configPath, 'utf8'));
    config.services = config.services.filter((s: { slug: string }) => s.slug !== 'backup');
    rig.project.writeConfig(config);
    await rig.ok(NOW - MIN, ['check']);

    const h = JSON.parse((await rig.ok(NOW, ['history', 'backup', '--since', '2h', '--json'])).stdout);
    expect(h).toMatchObject({ slug: 'backup', removed: true, since: iso(NOW - 120 * MIN), until: iso(NOW) });
    expect(h.events.map((e: any) => e.kind)).toEqual(['beats', 'state', 'delivery', 'beats', 'state', 'delivery', 'delivery']);
    expect(h.strip.reduce((a: number, b: number) => a + b, 0)).toBe(4);
    const text = await rig.ok(NOW, ['history', 'backup', '--since', '2h']);
    expect(text.stdout.split('\n')[0]).toMatch(/^backup \(removed from the config\): beats per /);
    expect(text.stdout).toMatch(/12:12:00Z {2}down → up: beat at/);
    // A configured service is not marked.
    expect(JSON.parse((await rig.ok(NOW, ['history', 'other', '--json'])).stdout).removed).toBe(false);
  });

  it('a slug neither in the config nor in the database is still unknown (65), with the nearest configured slug', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    const r = await rig.medic(T0, ['history', 'backpu']);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/unknown service 'backpu' — did you mean 'backup'\?/);
  });

  it.each([
    ['an unknown slug', ['history', 'bakup'], /unknown service 'bakup' — did you mean 'backup'\?/],
    ['a --since that is not a duration', ['history', 'backup', '--since', '2 hours'], /--since: expected a duration like "7d"/],
    ['a --since of zero', ['history', 'backup', '--since', '0s'], /--since: expected a duration/],
  ])('refuses %s with exit 65', async (_label, args, message) => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    const r = await rig.medic(T0, args);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
