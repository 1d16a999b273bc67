/**
 * `medic replay` end to end: history built by the real binary under faketime (beats, checks, one
 * real incident paged to the stand-in), then replayed under the current config, under another one
 * (`--with`), and as JSON. Replay reads only: nothing reaches the stand-in, the database is unchanged.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MIN, startRig, T0, type Rig } from '../helpers/trust.js';

/** Before backup's next deadline (T0+26m): the checks replay simulates up to now see it up. */
const NOW = T0 + 25 * MIN;

/** backup beats at T0 and T0+5m, goes quiet, is down at T0+11m (paged), back at T0+20m. */
async function story(): Promise<Rig> {
  const rig = await startRig([{ slug: 'backup' }, { slug: 'other' }]);
  onTestFinished(rig.close);
  await rig.ok(T0, ['check']);
  await rig.ok(T0, ['beat', 'backup']);
  await rig.ok(T0 + 5 * MIN, ['beat', 'backup']);
  await rig.ok(T0 + 5 * MIN, ['check']);
  await rig.ok(T0 + 12 * MIN, ['check']);
  await rig.ok(T0 + 20 * MIN, ['beat', 'backup']);
  await rig.ok(T0 + 20 * MIN, ['beat', 'other']);
  await rig.ok(T0 + 21 * MIN, ['check']);
  expect(rig.triggers('backup')).toHaveLength(1);
  expect(rig.resolves('backup')).toHaveLength(1);
  return rig;
}

/** The rig's config with backup's grace at 10m and without `other`, as other.json. */
function otherConfig(rig: Rig): string {
  const cfg = JSON.parse(readFileSync(rig.project.configPath, 'utf8'));
  cfg.services = [{ slug: 'backup', grace: '10m' }];
  const path = join(rig.project.dir, 'other.json');
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

describe('medic replay', { timeout: 180_000 }, () => {
  it('under the current config: the real incident again, side by side, and nothing sent or written', async () => {
    const rig = await story();
    const sent = rig.pd.requests.length;
    const db = join(rig.project.dir, 'medic.db');
    const before = statSync(db).mtimeMs;
    const r = await rig.ok(NOW, ['replay', 'backup']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`backup: replayed from 2026-11-26T12:00Z to 2026-11-26T12:25Z under ${rig.project.configPath} (not earlier: registered 2026-11-26T12:00Z)`);
    expect(lines[1]).toMatch(/^ {2}would page +resolved +lasted +why +\| +paged +resolved +lasted +why$/);
    expect(lines[2]).toMatch(/^ {2}2026-11-26T12:11Z +2026-11-26T12:20Z +9m +missed +\| +2026-11-26T12:11Z +2026-11-26T12:20Z +9m +missed$/);
    expect(lines[3]).toBe('backup: 1 page instead of 1; no outage missed: every real incident still paged');
    expect(r.stderr).toBe('');
    expect(rig.pd.requests.length).toBe(sent);
    expect(statSync(db).mtimeMs).toBe(before);
  });

  it('--with another config: fewer pages, and the real incident it would have missed', async () => {
    const rig = await story();
    const other = otherConfig(rig);
    const r = await rig.ok(NOW, ['replay', '--all', '--with', 'other.json']);
    expect(r.stdout).toContain(`backup: replayed from 2026-11-26T12:00Z to 2026-11-26T12:25Z under ${other}`);
    // Grace 10m: the deadline is T0+20m, when the beat came back: no page.
    expect(r.stdout).toMatch(/\n {2} +\| +2026-11-26T12:11Z +2026-11-26T12:20Z +9m +missed\n/);
    expect(r.stdout).toContain('backup: 0 pages instead of 1; 1 real incident would not have paged: 2026-11-26T12:11Z (missed)\n');
    expect(r.stdout).toContain(`other: not in ${other}; not replayed`);
  });

  it('--json: the documented shape', async () => {
    const rig = await story();
    otherConfig(rig);
    const r = await rig.ok(NOW, ['replay', 'backup', 'other', '--since', '1h', '--with', 'other.json', '--json']);
    const iso = (m: number) => new Date(T0 + m * MIN).toISOString();
    const real = { openedAt: iso(11), resolvedAt: iso(20), durationMs: 9 * MIN, reason: 'missed' };
    expect(JSON.parse(r.stdout)).toEqual({
      config: join(rig.project.dir, 'other.json'),
      since: iso(-35),
      until: iso(25),
      services: [
        {
          slug: 'backup',
          from: iso(0),
          until: iso(25),
          shortened: 'registered 2026-11-26T12:00Z',
          pages: 0,
          actualPages: 1,
          replayed: [],
          actual: [real],
          uncovered: [real],
          summary: 'backup: 0 pages instead of 1; 1 real incident would not have paged: 2026-11-26T12:11Z (missed)',
        },
      ],
      notInConfig: ['other'],
    });
  });

  it('a service no check has seen yet: nothing to replay, and it says why', async () => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    const r = await rig.ok(NOW, ['replay', 'backup']);
    expect(r.stdout).toBe(
      [
        'backup: replayed from 2026-11-26T12:25Z to 2026-11-26T12:25Z under ' + rig.project.configPath + ' (not earlier: no check has seen it yet)',
        '  would page  resolved  lasted  why  |  paged   resolved  lasted  why',
        `  (none)${' '.repeat(29)}|  (none)`,
        'backup: 0 pages instead of 0; no real incident in this range',
        '',
      ].join('\n'),
    );
  });

  it.each([
    ['no slug and no --all', 64, ['replay'], /which services\? give their slugs, or --all/],
    ['an unknown slug, with the nearest one', 65, ['replay', 'backpu'], /unknown service 'backpu' — did you mean 'backup'\?/],
    ['a bad --since', 65, ['replay', 'backup', '--since', 'soon'], /--since: expected a duration/],
    ['a --with file that does not exist, the hint naming --with (not --config)', 78, ['replay', 'backup', '--with', 'nope.json'], /config file \S*nope\.json not found \(--with\)\n.*check the --with path/],
  ])('%s → exit %i', async (_label, code, args, message) => {
    const rig = await startRig([{ slug: 'backup' }]);
    onTestFinished(rig.close);
    await rig.ok(T0, ['check']);
    const r = await rig.medic(NOW, args);
    expect(r.code, r.stderr).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});
