/**
 * `medic beat --start / --fail / -m` end to end: the real binary under a frozen clock, a real
 * SQLite file (or a spool folder), then `medic history` and `history --json` show the signals.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { GUIDE_EXAMPLE_KEY } from '../fixtures/pagerduty.js';
import { startPdServer } from '../helpers/pd-server.js';
import { tempProject, type Project } from '../helpers/cli.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');
const iso = (at: number) => new Date(at).toISOString();
const short = (at: number) => iso(at).replace('.000Z', 'Z');
let project: Project;
afterEach(() => project?.remove());

const at = (ms: number) => ({ at: ms, frozen: true });

describe('medic beat --start / --fail / -m', { timeout: 120_000 }, () => {
  it('records a start, a failure with its message and a success with its message; history shows them, escaped, and --json gives them exactly', async () => {
    project = tempProject({ services: [{ slug: 'backup', interval: '1h' }] });
    expect(await project.run(['beat', 'backup', '--start'], at(T0))).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['beat', 'backup', '--fail', '-m', 'disk full\u001b[31m'], at(T0 + MIN))).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['beat', 'backup'], at(T0 + 2 * MIN))).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await project.run(['--config', project.configPath, 'beat', 'backup', '--message', 'deployed v2'], at(T0 + 3 * MIN))).toEqual({ code: 0, stdout: '', stderr: '' });

    const text = await project.run(['history', 'backup', '--since', '1h'], at(T0 + 10 * MIN));
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n').slice(3)).toEqual([
      `  ${short(T0)}  run started`,
      `  ${short(T0 + MIN)}  failed: disk full\\x1b[31m`,
      `  ${short(T0 + 2 * MIN)}  beat`,
      `  ${short(T0 + 3 * MIN)}  beat: deployed v2`,
      '',
    ]);

    const json = await project.run(['history', 'backup', '--since', '1h', '--json'], at(T0 + 10 * MIN));
    expect(json.code, json.stderr).toBe(0);
    const h = JSON.parse(json.stdout);
    const none = { exitCode: null, durationMs: null, outputTail: null };
    expect(h.events).toEqual([
      { at: iso(T0), kind: 'signal', signal: 'start', ...none, message: null },
      { at: iso(T0 + MIN), kind: 'signal', signal: 'fail', ...none, message: 'disk full\u001b[31m' },
      { at: iso(T0 + 2 * MIN), kind: 'beats', count: 1, until: iso(T0 + 2 * MIN) },
      { at: iso(T0 + 3 * MIN), kind: 'signal', signal: 'ok', ...none, message: 'deployed v2' },
    ]);
    // The strip counts the two successes only.
    expect(h.strip.reduce((a: number, b: number) => a + b, 0)).toBe(2);
  });

  it.each([
    ['the full path', (): string[] => ['beat', 'backup']],
    ['the quick path (explicit JSON config)', (): string[] => ['--config', project.configPath, 'beat', 'backup']],
  ])('a routing key from the environment in a message is never stored: only a1b2…o5p6 (%s)', async (_, args) => {
    project = tempProject({ services: [{ slug: 'backup', interval: '1h' }] });
    const env = { PAGERDUTY_ROUTING_KEY: GUIDE_EXAMPLE_KEY };
    const r = await project.run([...args(), '--fail', '-m', `env says PAGERDUTY_ROUTING_KEY=${GUIDE_EXAMPLE_KEY}`], { ...at(T0), env });
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
    const json = await project.run(['history', 'backup', '--since', '1h', '--json'], at(T0 + MIN));
    expect(JSON.parse(json.stdout).events[0].message).toBe('env says PAGERDUTY_ROUTING_KEY=a1b2…o5p6');
    for (const file of readdirSync(project.dir).filter((f) => f.startsWith('medic.db'))) expect(readFileSync(join(project.dir, file)).includes(GUIDE_EXAMPLE_KEY)).toBe(false);
  });

  it('history shows a failed run\'s exit code, duration and output tail, indented, every control character escaped', async () => {
    project = tempProject({ services: [{ slug: 'backup', interval: '1h' }] });
    const store = openSqliteStore(join(project.dir, 'medic.db'));
    await store.recordBeat('backup', T0, { kind: 'fail', exitCode: 3, durationMs: 125_400, message: 'rsync failed', outputTail: 'line 1\r\nline 2 \u001b]0;owned\u0007\n' });
    await store.close();
    const r = await project.run(['history', 'backup', '--since', '1h'], at(T0 + MIN));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split('\n').slice(3)).toEqual([
      `  ${short(T0)}  failed (exit 3, 2m5s): rsync failed`,
      '      | line 1\\r',
      '      | line 2 \\x1b]0;owned\\x07',
      '',
    ]);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
  });

  it('a service removed from the config whose only records are signals still has its history', async () => {
    project = tempProject({ services: [{ slug: 'backup', interval: '1h' }] });
    const store = openSqliteStore(join(project.dir, 'medic.db'));
    await store.recordBeat('old-job', T0, { kind: 'start' });
    await store.forget(['old-job']);
    await store.close();
    const r = await project.run(['history', 'old-job', '--since', '1h'], at(T0 + MIN));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('old-job (removed from the config)');
    expect(r.stdout).toContain(`  ${short(T0)}  run started`);
  });

  it.each([
    ['--start with --fail', ['beat', 'backup', '--start', '--fail']],
    ['--fail with --start and a message', ['beat', 'backup', '--fail', '-m', 'x', '--start']],
  ])('%s is a usage error (64) and records nothing', async (_label, args) => {
    project = tempProject({ services: [{ slug: 'backup', interval: '1h' }] });
    const r = await project.run(args);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--start and --fail cannot be given together');
    expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);
  });

  it.each([
    ['found by the search', [] as string[]],
    ['given with --config (the quick path)', ['--config', 'medic.config.json']],
  ])('an unknown slug with --fail is still 65 with the nearest slug, config %s', async (_label, config) => {
    project = tempProject({ services: [{ slug: 'backup', interval: '1h' }] });
    const r = await project.run([...config, 'beat', 'bakup', '--fail', '-m', 'x']);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain("unknown service 'bakup' — did you mean 'backup'?");
    expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);
  });

  it('with a spool: the signal is one file named with its kind; check records it with its message; history shows it', async () => {
    project = tempProject({ spool: 'spool', services: [{ slug: 'backup', interval: '1h' }] });
    const spool = join(project.dir, 'spool');
    mkdirSync(spool);
    chmodSync(spool, 0o1733);
    expect((await project.run(['beat', 'backup', '--start'], at(T0))).code).toBe(0);
    expect((await project.run(['beat', 'backup', '--fail', '-m', 'disk full'], at(T0 + MIN))).code).toBe(0);
    expect(readdirSync(spool).sort()).toEqual([
      expect.stringMatching(new RegExp(`^backup\\.${T0}\\.\\d+\\.[a-z0-9]+-start$`)),
      expect.stringMatching(new RegExp(`^backup\\.${T0 + MIN}\\.\\d+\\.[a-z0-9]+-fail$`)),
    ]);
    expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);

    const check = await project.run(['check', '-v'], at(T0 + 2 * MIN));
    expect(check.stdout).toContain('recorded 2 beats from the spool');
    expect(readdirSync(spool)).toEqual([]);
    const h = JSON.parse((await project.run(['history', 'backup', '--since', '1h', '--json'], at(T0 + 3 * MIN))).stdout);
    expect(h.events.filter((e: { kind: string }) => e.kind === 'signal').map((e: { signal: string; message: string | null }) => [e.signal, e.message])).toEqual([
      ['start', null],
      ['fail', 'disk full'],
    ]);
  });

  it.each([
    ['from the environment, through a spool file the checker reads', true],
    ['from a routingKeyFile, in beat -m straight into the database', false],
  ])('a routing key in a failure message (%s) is stored, shown and sent by no one', async (_, spooled) => {
    const pd = await startPdServer();
    try {
      project = tempProject({
        ...(spooled ? { spool: 'spool' } : {}),
        targets: { oncall: spooled ? { type: 'pagerduty', eventsUrl: pd.url } : { type: 'pagerduty', eventsUrl: pd.url, routingKeyFile: 'pd.key' } },
        services: [{ slug: 'backup', interval: '1h' }],
      });
      writeFileSync(join(project.dir, 'pd.key'), `${GUIDE_EXAMPLE_KEY}\n`, { mode: 0o600 });
      if (spooled) {
        mkdirSync(join(project.dir, 'spool'));
        chmodSync(join(project.dir, 'spool'), 0o1733);
      }
      const env = spooled ? { PAGERDUTY_ROUTING_KEY: GUIDE_EXAMPLE_KEY } : {};
      // A job user who has neither the key in its environment nor the key file's contents hands it on.
      expect((await project.run(['beat', 'backup', '--fail', '-m', `leaked ${GUIDE_EXAMPLE_KEY.toUpperCase()}`], { ...at(T0), env: {} })).code).toBe(0);
      expect((await project.run(['check'], { at: T0 + MIN, env })).code).toBe(0);
      const shown = [
        (await project.run(['history', 'backup', '--since', '1h'], { ...at(T0 + 2 * MIN), env })).stdout,
        (await project.run(['history', 'backup', '--since', '1h', '--json'], { ...at(T0 + 2 * MIN), env })).stdout,
        (await project.run(['status', '--json'], { ...at(T0 + 2 * MIN), env })).stdout,
        JSON.stringify(pd.requests.map((r) => r.body?.payload ?? null)),
      ];
      expect(pd.requests.filter((r) => r.body?.event_action === 'trigger')).toHaveLength(1);
      for (const text of shown) expect(text.toLowerCase()).not.toContain(GUIDE_EXAMPLE_KEY.slice(4, 28));
      expect(shown[3]).toContain('leaked A1B2…O5P6');
      for (const file of readdirSync(project.dir).filter((f) => f.startsWith('medic.db'))) expect(readFileSync(join(project.dir, file), 'latin1').toLowerCase()).not.toContain(GUIDE_EXAMPLE_KEY.slice(4, 28));
    } finally {
      await pd.close();
    }
  });
});
