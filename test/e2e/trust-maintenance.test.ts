/**
 * Maintenance windows from the config, end to end: the real binary under faketime, a real SQLite
 * file, the PagerDuty stand-in counting what arrives. Services: interval 5m, grace 1m.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { iso, MIN, SEC, startRig, T0 } from '../helpers/trust.js';

describe('maintenance windows', { timeout: 180_000 }, () => {
  it('a one-off window covering the deadline: no trigger; status says maintenance with reason and end; a fresh 6m from the end', async () => {
    const start = T0 + 5 * MIN;
    const end = T0 + 10 * MIN;
    const rig = await startRig([{ slug: 'backup' }], {
      maintenance: [{ services: ['backup'], start: iso(start), end: iso(end), reason: 'storage migration' }],
    });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    expect((await rig.status(start - SEC)).get('backup')).toMatchObject({ state: 'up', muted: null });

    for (const at of [T0 + 5 * MIN, T0 + 6 * MIN, T0 + 8 * MIN]) await rig.ok(at, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(T0 + 6 * MIN)).get('backup')).toMatchObject({
      state: 'maintenance',
      muted: { kind: 'maintenance', reason: 'storage migration', until: iso(end) },
      incidentOpen: false,
    });
    const table = await rig.ok(T0 + 6 * MIN, ['status']);
    expect(table.stdout).toMatch(/backup\s+maintenance\s+6m ago\s+muted in 4m\s+-\s+-\s+storage migration/);

    // At its end (half-open: [start, end)) the window is over, but the service is not down at once.
    await rig.ok(end, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(end)).get('backup')).toMatchObject({ state: 'up', muted: null, deadline: iso(end + 6 * MIN) });
    await rig.ok(end + 6 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await rig.ok(end + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(end + 6 * MIN));
    expect(rig.resolves()).toHaveLength(0);
  });

  it('a window ending exactly at the deadline: the deadline is outside it ([start, end)), so it pages at that instant', async () => {
    // The rule changed (SPEC §3): a window excuses only a deadline that fell inside it. Its end is
    // the first instant outside, so a deadline there pages as if there were no window.
    const deadline = T0 + 6 * MIN;
    const rig = await startRig([{ slug: 'backup' }], {
      maintenance: [{ services: ['backup'], start: iso(T0 + 3 * MIN), end: iso(deadline), reason: 'failover test' }],
    });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    for (let m = 1; m <= 5; m++) await rig.ok(T0 + m * MIN, ['check']);
    await rig.ok(deadline - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await rig.ok(deadline, ['check']);
    await rig.ok(deadline + MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(deadline));
    expect(rig.triggers()[0]!.body.payload.custom_details).toMatchObject({ last_seen: iso(T0), missed_heartbeats: 1 });
  });

  it('a daily 1h window over a daily job that stopped beating pages at the first deadline outside a window (the old rule restarted the clock at every close and never paged)', async () => {
    // Interval 24h, grace 30m; last beat 00:30Z on the 26th; the window is 00:45-01:45Z every day.
    // The deadline (01:00Z on the 27th) fell inside it: a fresh 24h30m from 01:45Z, so 02:15Z on the 28th.
    const lastBeat = Date.parse('2026-11-26T00:30:00Z');
    const paged = Date.parse('2026-11-28T02:15:00Z');
    const rig = await startRig([{ slug: 'nightly', interval: '24h', grace: '30m' }], {
      maintenance: [{ services: ['nightly'], cron: '45 0 * * *', duration: '1h', timezone: 'UTC', reason: 'nightly vacuum' }],
    });
    onTestFinished(rig.close);
    await rig.ok(lastBeat, ['check']);
    await rig.ok(lastBeat, ['beat', 'nightly']);
    for (const at of ['2026-11-27T01:00:00Z', '2026-11-27T01:45:00Z', '2026-11-28T00:50:00Z', '2026-11-28T01:45:00Z', '2026-11-28T02:14:00Z']) {
      await rig.ok(Date.parse(at), ['check']);
    }
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(paged - MIN)).get('nightly')).toMatchObject({ state: 'late', deadline: iso(paged) });
    await rig.ok(paged, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(paged));
    expect(rig.triggers()[0]!.body.payload.custom_details).toMatchObject({ last_seen: iso(lastBeat) });
  });

  it('a recurring window (cron, duration, timezone) is read in its own zone and covers the deadline', async () => {
    // 02:00-03:00 Berlin every day; on 2026-11-26 Berlin is UTC+1, so 01:00-02:00Z. The machine runs UTC.
    const beat = Date.parse('2026-11-26T00:56:00Z');
    const start = Date.parse('2026-11-26T01:00:00Z');
    const end = Date.parse('2026-11-26T02:00:00Z');
    const rig = await startRig([{ slug: 'backup' }], {
      maintenance: [{ services: ['backup'], cron: '0 2 * * *', duration: '1h', timezone: 'Europe/Berlin', reason: 'nightly vacuum' }],
    });
    onTestFinished(rig.close);
    await rig.ok(beat, ['check']);
    await rig.ok(beat, ['beat', 'backup']);
    for (const at of [start, beat + 6 * MIN, start + 30 * MIN, end - SEC]) await rig.ok(at, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(beat + 6 * MIN)).get('backup')).toMatchObject({
      state: 'maintenance',
      muted: { kind: 'maintenance', reason: 'nightly vacuum', until: iso(end) },
    });

    await rig.ok(end, ['check']);
    await rig.ok(end + 6 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await rig.ok(end + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(end + 6 * MIN));
  });

  it('a recurring window without a timezone uses the machine zone (TZ=America/New_York)', async () => {
    // 02:00-03:00 New York on 2026-11-26 (EST, UTC−5) is 07:00-08:00Z.
    const beat = Date.parse('2026-11-26T06:56:00Z');
    const end = Date.parse('2026-11-26T08:00:00Z');
    const rig = await startRig([{ slug: 'backup' }], { maintenance: [{ all: true, cron: '0 2 * * *', duration: '1h', reason: 'local night' }] });
    onTestFinished(rig.close);
    const ny = (at: number, args: string[]) => rig.ok(at, args, { env: { TZ: 'America/New_York' } });
    await ny(beat, ['check']);
    await ny(beat, ['beat', 'backup']);
    await ny(beat + 6 * MIN, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(beat + 6 * MIN)).get('backup')!.lastSeen).toBe(iso(beat));
    await ny(end, ['check']);
    await ny(end + 6 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await ny(end + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(end + 6 * MIN));
  });

  it('a window for a team covers exactly that team\'s services', async () => {
    const rig = await startRig(
      [
        { slug: 'ledger', team: 'payments' },
        { slug: 'invoices', team: 'payments' },
        { slug: 'backup', team: 'platform' },
        { slug: 'web' },
      ],
      { maintenance: [{ teams: ['payments'], start: iso(T0 + 5 * MIN), end: iso(T0 + 10 * MIN), reason: 'bank cut-over' }] },
    );
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0 + 6 * MIN, ['check']);
    expect(rig.triggers().map((r) => r.body.dedup_key).sort()).toEqual(['medic-heartbeat-backup', 'medic-heartbeat-web']);
    const status = await rig.status(T0 + 7 * MIN);
    expect([...status.values()].map((r) => [r.slug, r.state])).toEqual([
      ['ledger', 'maintenance'],
      ['invoices', 'maintenance'],
      ['backup', 'down'],
      ['web', 'down'],
    ]);
    await rig.ok(T0 + 16 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(4);
    expect(rig.resolves()).toHaveLength(0);
  });

  it('"all": true covers every service', async () => {
    const rig = await startRig([{ slug: 'ledger', team: 'payments' }, { slug: 'web' }], {
      maintenance: [{ all: true, start: iso(T0 + 5 * MIN), end: iso(T0 + 10 * MIN), reason: 'datacenter move' }],
    });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0 + 6 * MIN, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    const states = [...(await rig.status(T0 + 6 * MIN)).values()].map((r) => [r.state, r.muted?.reason]);
    expect(states).toEqual([
      ['maintenance', 'datacenter move'],
      ['maintenance', 'datacenter move'],
    ]);
  });

  it('a recovery during a window is still resolved', async () => {
    const rig = await startRig([{ slug: 'backup' }], {
      maintenance: [{ services: ['backup'], start: iso(T0 + 8 * MIN), end: iso(T0 + 20 * MIN), reason: 'repair' }],
    });
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    await rig.ok(T0 + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    await rig.ok(T0 + 9 * MIN, ['check']);
    expect(rig.resolves()).toHaveLength(0);
    await rig.ok(T0 + 10 * MIN, ['beat', 'backup']);
    await rig.ok(T0 + 10 * MIN, ['check']);
    expect(rig.resolves()).toHaveLength(1);
    expect(rig.triggers()).toHaveLength(1);
  });
});
