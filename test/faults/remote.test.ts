/**
 * Faults on the way to `medic serve`, with the real binary: a server that accepts and never
 * answers, a closed port, a connection dropped mid-answer. A beat never hangs the job it reports
 * on (75 within MEDIC_URL_TIMEOUT, default 10 s, plus the process's start and end); `medic run`
 * starts its job without waiting for the start signal, says once that the run is not monitored,
 * and returns the job's own code. Everything stays on 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { refusedUrl } from '../helpers/pd-server.js';
import { closedAfterEach } from '../helpers/standins.js';
import { type PingServer, startPingServer } from '../helpers/ping-server.js';

/** An obviously fake ping key. */
const PING_KEY = 'fake-ping-key_0123456x';
const SLUG = 'nightly-backup';
/** What a process's own start and end may add to a bound, on a loaded 2-core machine. */
const MARGIN_MS = 3000;

const track = closedAfterEach();
const serve = (): Promise<PingServer> => track(startPingServer({ key: PING_KEY, slugs: [SLUG] }));
const root = mkdtempSync(join(tmpdir(), 'medic-faults-remote-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A loopback base URL on which nothing listens (connection refused). */
async function closedBase(): Promise<string> {
  return `${new URL(await refusedUrl()).origin}/ping/${PING_KEY}`;
}

interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
  /** From spawn to the first byte on stdout (the job's first word), or null. */
  firstOutputMs: number | null;
}

/** Spawns bin/medic in a fresh folder with no config, timing its exit and its first output. */
function timed(args: string[], env: Record<string, string>): Promise<Timed> {
  const cwd = mkdtempSync(join(root, 'host-'));
  const fullEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', NO_COLOR: '1', HOME: cwd, XDG_CONFIG_HOME: join(cwd, '.config'), ...env };
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let firstOutputMs: number | null = null;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      firstOutputMs ??= performance.now() - began;
      stdout += s;
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const safety = setTimeout(() => child.kill('SIGKILL'), 60_000); // a safety net, not an assertion
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(safety);
      const res = { code, stdout, stderr, ms: performance.now() - began, firstOutputMs };
      expect(stdout + stderr).not.toContain(PING_KEY);
      resolve(res);
    });
  });
}

describe('medic beat when medic serve cannot be reached', { timeout: 60_000 }, () => {
  it('a server that accepts and never answers: exit 75 within 10 s (the default) and a clear message', async () => {
    const server = await serve();
    server.replyQueue(...Array(10).fill('hang'));
    const res = await timed(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res.code).toBe(75);
    expect(res.ms).toBeLessThan(10_000 + MARGIN_MS);
    expect(res.ms).toBeGreaterThan(8000);
    expect(res.stderr).toMatch(
      new RegExp(`^medic: the beat for '${SLUG}' was not delivered to http://127\\.0\\.0\\.1:\\d+/ping/<ping-key>/${SLUG}: no answer within \\d+ ms \\(timeout\\) \\(\\d tries in \\d+\\.\\d s\\)\n  → it was not recorded; `),
    );
    expect(server.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('a closed port with MEDIC_URL_TIMEOUT=2s: exit 75 within 2 s, after a few tries', async () => {
    const res = await timed(['beat', SLUG, '--fail', '-m', 'disk full'], { MEDIC_URL: await closedBase(), MEDIC_URL_TIMEOUT: '2s' });
    expect(res.code).toBe(75);
    expect(res.ms).toBeLessThan(2000 + MARGIN_MS);
    expect(res.stderr).toMatch(/^medic: the failure for 'nightly-backup' was not delivered to http:\/\/127\.0\.0\.1:\d+\/ping\/<ping-key>\/nightly-backup\/fail: connection refused \([3-9] tries in 1\.\d s\)\n/);
  });

  it('a connection dropped mid-answer, then OK: delivered on the next try', async () => {
    const server = await serve();
    server.replyQueue('destroy');
    const res = await timed(['beat', SLUG], { MEDIC_URL: server.url });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(server.requests).toHaveLength(2);
    expect(server.accepted).toHaveLength(1);
  });
});

describe('medic run when medic serve cannot be reached', { timeout: 60_000 }, () => {
  it('a server that never answers: the job starts at once, one warning, the job’s own code, the whole bounded', async () => {
    const server = await serve();
    server.replyQueue(...Array(10).fill('hang'));
    const res = await timed(['run', SLUG, '--', 'sh', '-c', 'echo started; exit 3'], { MEDIC_URL: server.url });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe('started\n');
    // The job does not wait for the start signal (at most ~2 s is allowed; it waits for none).
    expect(res.firstOutputMs!).toBeLessThan(2000 + MARGIN_MS);
    expect(res.stderr).toMatch(/^medic run: not monitored: the start signal for 'nightly-backup' was not delivered to http:\/\/127\.0\.0\.1:\d+\/ping\/<ping-key>\/nightly-backup\/start: no answer within \d+ ms \(timeout\) \(1 try in [\d.]+ s\); it was not recorded; [^\n]*\n$/);
    // The start (2 s), then the end (10 s), each bounded.
    expect(res.ms).toBeLessThan(2000 + 10_000 + MARGIN_MS);
    expect(server.requests.map((r) => new URL(r.path, 'http://x').pathname.split('/').pop())).toContain('3');
  });

  it('a closed port: the job runs, exactly one warning, the job’s own code', async () => {
    const res = await timed(['run', SLUG, '--', 'sh', '-c', 'echo working; exit 7'], { MEDIC_URL: await closedBase(), MEDIC_URL_TIMEOUT: '2s' });
    expect(res.code).toBe(7);
    expect(res.stdout).toBe('working\n');
    expect(res.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(res.stderr).toMatch(/^medic run: not monitored: the start signal for 'nightly-backup' was not delivered to [^\n]*: connection refused /);
    expect(res.ms).toBeLessThan(2000 + 2000 + MARGIN_MS);
  });

  it('the start delivered, the end not (503 until the budget is spent): one warning, for the end; the job’s own code', async () => {
    const server = await serve();
    server.replyQueue({ status: 200, body: 'OK' }, ...Array(20).fill({ status: 503, body: 'Service Unavailable' }));
    const res = await timed(['run', SLUG, '--', 'sh', '-c', 'exit 4'], { MEDIC_URL: server.url, MEDIC_URL_TIMEOUT: '2s' });
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/^medic run: not monitored: the end of the run \(exit status 4\) for 'nightly-backup' was not delivered to http:\/\/127\.0\.0\.1:\d+\/ping\/<ping-key>\/nightly-backup\/4: HTTP 503: Service Unavailable \(\d tries in 1\.\d s\); [^\n]*\n$/);
    expect(res.ms).toBeLessThan(2000 + MARGIN_MS);
  });
});
