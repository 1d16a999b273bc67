/**
 * `medic pause` / `medic resume` end to end: the real binary under faketime, a real SQLite file,
 * the PagerDuty stand-in counting what arrives. Services: interval 5m, grace 1m (6m to the deadline).
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { HOUR, iso, MIN, SEC, startRig, T0 } from '../helpers/trust.js';

describe('medic pause / resume', { timeout: 180_000 }, () => {
  it('an overdue service paused before the check: no trigger; a beat is recorded but does not end the pause; after resume a full 6m, then one trigger', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);

    // The deadline (T0+6m) passed before any check noticed; the operator pauses first.
    const paused = await rig.ok(T0 + 6 * MIN + 30 * SEC, ['pause', 'backup', '--reason', 'restoring from snapshot']);
    expect(paused.stdout).toContain('paused backup until `medic resume`: restoring from snapshot');
    await rig.ok(T0 + 7 * MIN, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(T0 + 7 * MIN)).get('backup')).toMatchObject({
      state: 'paused',
      muted: { kind: 'paused', reason: 'restoring from snapshot', until: null },
      incidentOpen: false,
    });

    // A beat during the pause is recorded (last seen moves) but the pause sticks (healthchecks #94).
    await rig.ok(T0 + 8 * MIN, ['beat', 'backup']);
    await rig.ok(T0 + 8 * MIN, ['check']);
    expect((await rig.status(T0 + 9 * MIN)).get('backup')).toMatchObject({ state: 'paused', lastSeen: iso(T0 + 8 * MIN) });

    // Silent long past the deadline while paused: still nothing.
    for (const at of [T0 + 15 * MIN, T0 + 25 * MIN, T0 + 35 * MIN]) await rig.ok(at, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    const table = await rig.ok(T0 + 35 * MIN, ['status']);
    expect(table.stdout).toMatch(/backup\s+paused\s+27m ago\s+until resumed\s+-\s+-\s+restoring from snapshot/);

    // Resume: no page at once, although the last beat is 32 minutes old.
    const resumed = await rig.ok(T0 + 40 * MIN, ['resume', 'backup']);
    expect(resumed.stdout).toContain('resumed backup; it has 6m before it can go down');
    await rig.ok(T0 + 40 * MIN, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(T0 + 40 * MIN)).get('backup')).toMatchObject({ state: 'up', muted: null, deadline: iso(T0 + 46 * MIN) });
    await rig.ok(T0 + 45 * MIN, ['check']);
    await rig.ok(T0 + 46 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);

    // interval × threshold + grace after the resume: down, one trigger dated at that deadline.
    await rig.ok(T0 + 46 * MIN, ['check']);
    await rig.ok(T0 + 47 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.resolves()).toHaveLength(0);
    const trigger = rig.triggers()[0]!.body;
    expect(trigger.payload.timestamp).toBe(iso(T0 + 46 * MIN));
    expect(trigger.payload.custom_details.last_seen).toBe(iso(T0 + 8 * MIN));
  });

  it('--for 2h: the pause ends by itself at +2h and the service gets a fresh 6m from then', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    const until = T0 + MIN + 2 * HOUR;
    const paused = await rig.ok(T0 + MIN, ['pause', 'backup', '--for', '2h', '--reason', 'kernel upgrade']);
    expect(paused.stdout).toContain(`paused backup until ${iso(until)} (2h): kernel upgrade`);
    expect((await rig.status(T0 + HOUR)).get('backup')).toMatchObject({
      state: 'paused',
      muted: { kind: 'paused', reason: 'kernel upgrade', until: iso(until) },
    });

    for (const at of [T0 + 10 * MIN, T0 + HOUR, until - SEC]) await rig.ok(at, ['check']);
    expect(rig.pd.requests).toHaveLength(0);

    // At +2h the pause is over by itself: not paused, and not down either (fresh window).
    await rig.ok(until, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect((await rig.status(until)).get('backup')).toMatchObject({ state: 'up', muted: null, deadline: iso(until + 6 * MIN) });
    await rig.ok(until + 6 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await rig.ok(until + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(until + 6 * MIN));
    expect(rig.resolves()).toHaveLength(0);
  });

  it('--team pauses every service of that team; the others still page', async () => {
    const rig = await startRig([
      { slug: 'ledger', team: 'payments' },
      { slug: 'invoices', team: 'payments' },
      { slug: 'backup', team: 'platform' },
    ]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    const paused = await rig.ok(T0 + MIN, ['pause', '--team', 'payments', '--reason', 'ledger migration']);
    expect(paused.stdout).toContain('paused ledger, invoices until `medic resume`: ledger migration');
    const status = await rig.status(T0 + 2 * MIN);
    expect([...status.values()].map((r) => [r.slug, r.state])).toEqual([
      ['ledger', 'paused'],
      ['invoices', 'paused'],
      ['backup', 'new'],
    ]);

    await rig.ok(T0 + 6 * MIN, ['check']);
    expect(rig.triggers().map((r) => r.body.dedup_key)).toEqual(['medic-heartbeat-backup']);
    expect(rig.resolves()).toHaveLength(0);

    // resume --team gives both of them a fresh window from the resume.
    await rig.ok(T0 + 10 * MIN, ['resume', '--team', 'payments']);
    await rig.ok(T0 + 16 * MIN - SEC, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    await rig.ok(T0 + 16 * MIN, ['check']);
    expect(rig.triggers().map((r) => r.body.dedup_key).sort()).toEqual(['medic-heartbeat-backup', 'medic-heartbeat-invoices', 'medic-heartbeat-ledger']);
  });

  it('--all pauses everything: nothing pages', async () => {
    const rig = await startRig([{ slug: 'ledger', team: 'payments' }, { slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    const paused = await rig.ok(T0 + MIN, ['pause', '--all', '--for', '1h']);
    expect(paused.stdout).toContain(`paused ledger, backup until ${iso(T0 + MIN + HOUR)} (1h)`);
    for (const at of [T0 + 6 * MIN, T0 + 30 * MIN]) await rig.ok(at, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    expect([...(await rig.status(T0 + 30 * MIN)).values()].map((r) => r.state)).toEqual(['paused', 'paused']);
  });

  it.each([
    ['an unknown slug', 65, ['pause', 'bakup'], /unknown service 'bakup' — did you mean 'backup'\?/],
    ['an unknown slug among known ones', 65, ['pause', 'backup', 'nope'], /unknown service 'nope'/],
    ['an unknown team', 65, ['pause', '--team', 'nobody'], /no service belongs to team 'nobody'/],
    ['nothing named', 64, ['pause'], /name the services to change/],
    ['a bad --for', 65, ['pause', 'backup', '--for', 'two hours'], /--for: expected a duration like "2h"/],
    ['resume of an unknown slug', 65, ['resume', 'bakup'], /unknown service 'bakup'/],
    ['resume with nothing named', 64, ['resume'], /name the services to change/],
  ])('refuses %s (exit %i) and pauses nothing', async (_label, code, args, message) => {
    const rig = await startRig([{ slug: 'backup', team: 'platform' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    const r = await rig.medic(T0 + MIN, args);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect((await rig.status(T0 + MIN)).get('backup')!.muted).toBeNull();
  });

  it('a pause during an outage: the open incident stays open while paused, no second trigger when the pause ends, and it resolves when a beat comes', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    await rig.ok(T0 + 6 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);

    await rig.ok(T0 + 7 * MIN, ['pause', 'backup', '--for', '10m', '--reason', 'investigating']);
    await rig.ok(T0 + 8 * MIN, ['check']);
    expect((await rig.status(T0 + 8 * MIN)).get('backup')).toMatchObject({ state: 'paused', incidentOpen: true, incidentSince: iso(T0 + 6 * MIN) });
    expect(rig.resolves()).toHaveLength(0);

    // The pause ends by itself (T0+17m) while the service is still silent: the incident is still open
    // and still the only one; the end of a pause neither resolves nor re-triggers.
    for (const at of [T0 + 17 * MIN, T0 + 23 * MIN, T0 + 30 * MIN]) await rig.ok(at, ['check']);
    expect((await rig.status(T0 + 30 * MIN)).get('backup')).toMatchObject({ state: 'down', incidentOpen: true, muted: null });
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.resolves()).toHaveLength(0);

    await rig.ok(T0 + 31 * MIN, ['beat', 'backup']);
    await rig.ok(T0 + 31 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.resolves()).toHaveLength(1);
    expect(rig.resolves()[0]!.body).toMatchObject({ event_action: 'resolve', dedup_key: 'medic-heartbeat-backup' });
  });

  it('a recovery while paused is still resolved, and the pause stays', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0, ['beat', 'backup']);
    await rig.ok(T0 + 6 * MIN, ['check']);
    await rig.ok(T0 + 7 * MIN, ['pause', 'backup', '--reason', 'fixing it']);
    await rig.ok(T0 + 9 * MIN, ['check']);
    expect(rig.resolves()).toHaveLength(0);

    await rig.ok(T0 + 10 * MIN, ['beat', 'backup']);
    await rig.ok(T0 + 10 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.resolves()).toHaveLength(1);
    expect((await rig.status(T0 + 11 * MIN)).get('backup')).toMatchObject({ state: 'paused', incidentOpen: false, lastSeen: iso(T0 + 10 * MIN) });

    // Silent again while still paused: no new trigger.
    await rig.ok(T0 + 30 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
  });
});
