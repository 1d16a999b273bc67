/**
 * The multi-host path end to end, every part real: `medic beat` and `medic run` with MEDIC_URL on a
 * "host" with no config, sending to a real `medic serve`, on SQLite and on PostgreSQL; the beats read
 * back through `medic status` / `medic history` on the server's config.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { medic } from '../helpers/cli.js';
import { freshDatabase } from '../helpers/pg.js';
import { configFor, PING_KEY, startServe } from '../helpers/serve.js';

/** A folder with no config anywhere above it that Medic would find: the host that only beats. */
function bareHost(): string {
  const dir = mkdtempSync(join(tmpdir(), 'medic-host-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe.each([
  ['SQLite', async () => 'medic.db'],
  ['PostgreSQL', freshDatabase],
])('MEDIC_URL → medic serve on %s', (_store, database) => {
  it('beat, a failing run (exit code, duration, output) and a wrong key, as status and history on the server see them', { timeout: 60_000 }, async () => {
    const db = await database();
    const serve = await startServe({ ...configFor(), database: db });
    const host = bareHost();
    const env = { MEDIC_URL: serve.base };
    const config = ['--config', join(serve.dir, 'medic.config.json')];

    const beat = await medic(['beat', 'backup'], { cwd: host, env });
    expect(beat).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const run = await medic(['run', 'db-dump', '--', 'sh', '-c', 'echo dumping; sleep 0.3; exit 3'], { cwd: host, env });
    expect(run.code).toBe(3);
    expect(run.stdout).toBe('dumping\n');
    expect(run.stderr).toBe('');

    const status = await medic(['status', '--json', ...config], { cwd: serve.dir });
    const rows = new Map((JSON.parse(status.stdout) as { slug: string; lastSeen: string | null }[]).map((r) => [r.slug, r]));
    expect(rows.get('backup')?.lastSeen).not.toBeNull();
    expect(rows.get('db-dump')?.lastSeen).toBeNull();

    const history = await medic(['history', 'db-dump', '--json', ...config], { cwd: serve.dir });
    const events = (JSON.parse(history.stdout) as { events: { kind: string; signal?: string; exitCode?: number; durationMs?: number; outputTail?: string }[] }).events;
    const signals = events.filter((e) => e.kind === 'signal');
    expect(signals.map((e) => e.signal)).toEqual(['start', 'fail']);
    const fail = signals[1]!;
    expect(fail.exitCode).toBe(3);
    // Paired by ?rid=: the server measured the run from its start (the job slept 0.3 s).
    expect(fail.durationMs).toBeGreaterThanOrEqual(250);
    expect(fail.outputTail).toContain('dumping');

    const wrong = await medic(['beat', 'backup'], { cwd: host, env: { MEDIC_URL: serve.base.replace(PING_KEY, 'not-the-ping-key-0000') } });
    expect(wrong.code).toBe(65);
    expect(wrong.stderr).toContain('unknown slug or wrong ping key');
    expect(wrong.stderr).not.toContain('not-the-ping-key-0000');
  });
});

describe('/log lines', () => {
  it('are shown by history, escaped, and change no state', async () => {
    const serve = await startServe(configFor());
    const sent = await fetch(`${serve.base}/backup/log`, { method: 'POST', body: 'rotated logs\u001b[31m red' });
    expect(await sent.text()).toBe('OK');
    const config = ['--config', join(serve.dir, 'medic.config.json')];
    const text = await medic(['history', 'backup', ...config], { cwd: serve.dir, env: { NO_COLOR: '1' } });
    expect(text.stdout).toMatch(/ {2}\S+Z {2}log: rotated logs\\x1b\[31m red\n/);
    expect(text.stdout).not.toContain('\u001b');
    const json = JSON.parse((await medic(['history', 'backup', '--json', ...config], { cwd: serve.dir })).stdout) as { events: { kind: string; message?: string }[] };
    expect(json.events).toEqual([expect.objectContaining({ kind: 'log', message: 'rotated logs\u001b[31m red' })]);
    const status = JSON.parse((await medic(['status', '--json', ...config], { cwd: serve.dir })).stdout) as { slug: string; lastSeen: string | null }[];
    expect(status.find((r) => r.slug === 'backup')?.lastSeen).toBeNull();
  });
});

describe('a host that only beats', () => {
  it('status there says to run it where the config is, not `medic init`', async () => {
    const res = await medic(['status'], { cwd: bareHost(), env: { MEDIC_URL: `http://127.0.0.1:9/ping/${PING_KEY}` } });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('this host sends its beats to medic serve (MEDIC_URL is set)');
    expect(res.stderr).not.toContain(PING_KEY);
  });
});
