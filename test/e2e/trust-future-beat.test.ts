/**
 * A beat stamped in the future (the clock of the machine that sent it is ahead): the real binary
 * under faketime, a real SQLite file, the PagerDuty stand-in. Services: interval 5m, grace 1m.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { iso, MIN, SEC, startRig, T0 } from '../helpers/trust.js';

const YEAR = 365 * 24 * 60 * MIN;

describe('a beat stamped after the check\'s clock', { timeout: 180_000 }, () => {
  it('counts as a beat at the first check that sees it (check -v says so); the job that then stays quiet pages 6m later, not a year later', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0 + YEAR, ['beat', 'backup']);

    const seen = await rig.ok(T0 + MIN, ['check', '-v']);
    expect(seen.stdout).toContain(`backup: its last beat is stamped ${iso(T0 + YEAR)}, after this check's clock; counted as a beat at ${iso(T0 + MIN)}`);
    expect(seen.stderr).toBe('');
    // Said once: the beat is recorded at that check's now.
    expect((await rig.ok(T0 + 2 * MIN, ['check', '-v'])).stdout).not.toContain('stamped');

    await rig.ok(T0 + 7 * MIN - SEC, ['check']);
    expect(rig.pd.requests).toHaveLength(0);
    await rig.ok(T0 + 7 * MIN, ['check']);
    expect(rig.triggers()).toHaveLength(1);
    expect(rig.triggers()[0]!.body.payload.timestamp).toBe(iso(T0 + 7 * MIN));
  });

  it('check --dry-run says so too, and changes nothing', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    await rig.ok(T0 + YEAR, ['beat', 'backup']);
    const dry = await rig.ok(T0 + MIN, ['check', '--dry-run']);
    expect(dry.stdout).toContain('backup: its last beat is stamped');
    expect((await rig.ok(T0 + 2 * MIN, ['check', '-v'])).stdout).toContain(`counted as a beat at ${iso(T0 + 2 * MIN)}`);
  });
});
