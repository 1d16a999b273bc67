/**
 * Fault injection, network and terminal side, with the real binary: a proxy that swallows or drops
 * the CONNECT (nodejs/undici#3897), a PagerDuty answer written to attack the terminal, an
 * uncaught exception, a timer that lingers, certificate checks switched off. Everything stays on
 * 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, MIN, fileTempDir, medic } from '../helpers/faults.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';
import { closedAfterEach } from '../helpers/standins.js';
import { badProxy, type Listener, type ProxyMode } from '../helpers/proxy.js';

/** The guide's example key: never a real one. */
const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const T0 = Date.parse('2026-11-26T12:00:00Z');
/** interval 5m + grace 1m: registered at T0, down from T0+6m. */
const AT_DOWN = T0 + 7 * MIN;
/** Anything a terminal acts on (ESC, BEL, CR, other C0 but \n, DEL, C1, bidi controls). */
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
/** An answer written to attack the terminal: window title, screen clear, CR, OSC 8 link, a forged line, bidi override. */
const HOSTILE = 'Event object is invalid\u001b]0;pwned\u0007\u001b[2J\rmedic: ok\n\u001b]8;;https://evil.example\u001b\\here\u001b]8;;\u001b\\ \u202etxt.exe';

const tmp = fileTempDir('net');
afterAll(() => tmp.remove());
const track = closedAfterEach();
const pdServer = (): Promise<PdServer> => track(startPdServer());
const proxy = (mode: ProxyMode): Promise<Listener> => track(badProxy(mode));

/** A project folder with this config; `run` spawns the real binary there (NO_COLOR, clean env). */
function project(config: object) {
  const dir = mkdtempSync(join(tmp.dir, 'case-'));
  const file = join(dir, 'medic.config.json');
  writeFileSync(file, JSON.stringify(config));
  return {
    dir,
    run: (args: string[], opts: { at?: number; env?: Record<string, string> } = {}) =>
      medic(['--config', file, ...args], { cwd: dir, at: opts.at, env: { PAGERDUTY_ROUTING_KEY: KEY, ...opts.env } }),
  };
}

describe('a proxy that never answers or drops the CONNECT cannot hang a run', { timeout: 120_000 }, () => {
  it.each<ProxyMode>(['hang', 'drop'])('HTTPS_PROXY that %ss it: medic check ends with 75 within budget + timeout, without a reconnect storm', async (mode) => {
    const p = await proxy(mode);
    const proj = project({
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'https://127.0.0.1:9/v2/enqueue', timeout: '2s' } },
      defaults: { interval: '5m', grace: '1m' },
      services: [{ slug: 'backup' }],
      checker: { deliveryBudget: '3s', gapThreshold: '30d' },
    });
    expect((await proj.run(['check'], { at: T0 })).code).toBe(0);
    const env = { HTTPS_PROXY: p.url.replace('http://', 'http://ops:pr0xyPa55@') };
    const started = Date.now();
    const res = await proj.run(['check'], { at: AT_DOWN, env });
    const took = Date.now() - started;
    expect(res.code, res.stderr).toBe(75);
    expect(took).toBeLessThan(3_000 + 2_000 + 6_000);
    expect(res.stderr).toContain(`proxy ${p.url}/`);
    expect(res.stderr).not.toContain('pr0xyPa55');
    // The undici loop reconnected thousands of times a second; each attempt here is one connection.
    expect(p.connections).toBeLessThanOrEqual(10);

    // The lock was released: the next run is not told another checker is still running.
    const next = await proj.run(['check', '-v'], { at: AT_DOWN + MIN, env });
    expect(next.code).toBe(75);
    expect(next.stdout).not.toContain('another medic check');
  });

  it('medic test-alert through a proxy that never answers ends with 75 after its attempts', async () => {
    const p = await proxy('hang');
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: 'https://127.0.0.1:9/v2/enqueue', timeout: '1s' } }, services: [{ slug: 'backup' }] });
    const started = Date.now();
    const res = await proj.run(['test-alert'], { env: { HTTPS_PROXY: p.url } });
    expect(res.code, res.stderr).toBe(75);
    expect(res.stderr).toContain('no answer within 1000 ms (timeout, through the proxy');
    expect(Date.now() - started).toBeLessThan(3 * 1_000 + 3_000 + 6_000);
  });
});

describe('an answer is bounded', { timeout: 120_000 }, () => {
  it('a 20 MB 202: delivered, and the database keeps a few KiB of it, not megabytes', async () => {
    const pd = await pdServer();
    const huge = JSON.stringify({ status: 'success', message: 'x'.repeat(20 * 1024 * 1024), dedup_key: 'medic-heartbeat-backup' });
    pd.reply(() => ({ status: 202, body: huge, contentType: 'application/json' }));
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } }, defaults: { interval: '5m', grace: '1m' }, services: [{ slug: 'backup' }], checker: { gapThreshold: '30d' } });
    expect((await proj.run(['check'], { at: T0 })).code).toBe(0);
    const res = await proj.run(['check'], { at: AT_DOWN });
    expect(res, res.stderr).toMatchObject({ code: 0, stderr: '' });
    const bytes = ['medic.db', 'medic.db-wal'].map((f) => join(proj.dir, f)).filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);
    expect(bytes).toBeLessThan(1024 * 1024);
  });
});

describe('nothing from outside reaches the terminal raw', { timeout: 120_000 }, () => {
  it('a rejected trigger whose answer carries escape sequences: check and check -v print no control character and no forged line', async () => {
    const pd = await pdServer();
    pd.reply(() => ({ status: 400, body: JSON.stringify({ status: 'invalid event', message: HOSTILE, errors: [HOSTILE] }), contentType: 'application/json' }));
    const proj = project({
      targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } },
      defaults: { interval: '5m', grace: '1m' },
      services: [{ slug: 'backup', name: `Backup \u001b[31mred\u001b[0m \u202eevil` }],
      checker: { gapThreshold: '30d' },
    });
    expect((await proj.run(['check'], { at: T0 })).code).toBe(0);
    const res = await proj.run(['check', '-v'], { at: AT_DOWN });
    expect(res.code).toBe(76);
    expect(res.stderr).toContain('\\x1b]0;pwned\\x07');
    for (const out of [res.stdout, res.stderr]) {
      expect(out).not.toMatch(CONTROL);
      expect(out.split('\n').some((l) => l.startsWith('medic: ok'))).toBe(false);
    }
    const history = await proj.run(['history', 'backup'], { at: AT_DOWN + MIN });
    expect(history.code).toBe(0);
    expect(history.stdout).not.toMatch(CONTROL);
  });

  it("test-alert prints PagerDuty's answer escaped", async () => {
    const pd = await pdServer();
    pd.reply(() => ({ status: 202, body: JSON.stringify({ status: 'success', message: HOSTILE, dedup_key: 'medic-test-alert' }), contentType: 'application/json' }));
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } }, services: [{ slug: 'backup' }] });
    const res = await proj.run(['test-alert']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('pwned\\x07\\x1b[2J medic: ok');
    expect(res.stdout).not.toMatch(CONTROL);
    expect(res.stdout.split('\n').some((l) => l.startsWith('medic: ok'))).toBe(false);
  });

  it('pause --reason with escapes, and a maintenance reason: pause and status print them escaped, on their own lines', async () => {
    const proj = project({
      targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
      services: [{ slug: 'backup' }, { slug: 'mail' }],
      maintenance: [{ services: ['mail'], start: '2026-11-26T00:00:00Z', end: '2026-11-27T00:00:00Z', reason: `disk swap \u001b]0;owned\u0007\rmedic: ok` }],
    });
    const pause = await proj.run(['pause', 'backup', '--reason', `db move \u001b[2J\u001b]8;;https://evil.example\u001b\\x\u001b]8;;\u001b\\\nmedic: ok \u202eevil`], { at: T0 });
    expect(pause.code, pause.stderr).toBe(0);
    const status = await proj.run(['status'], { at: T0 + MIN });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('db move \\x1b[2J');
    expect(status.stdout).toContain('disk swap \\x1b]0;owned\\x07\\rmedic: ok');
    for (const out of [pause.stdout, status.stdout]) {
      expect(out).not.toMatch(CONTROL);
      expect(out.split('\n').some((l) => l.startsWith('medic: ok'))).toBe(false);
    }
    // --json stays exact: the reason as given.
    const json = await proj.run(['status', '--json'], { at: T0 + MIN });
    expect(JSON.parse(json.stdout)[0].muted.reason).toContain('\u001b[2J');
  });
});

describe('one exit funnel', { timeout: 60_000 }, () => {
  /** Runs bin/medic after `before` (JS) has been evaluated, in a clean environment. */
  function withScript(before: string, args: string[], cwd: string) {
    const script = `${before}\nawait import(${JSON.stringify(pathToFileURL(BIN).href)});`;
    return new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) => {
      const started = Date.now();
      // argv as bin/medic sees it: [node, BIN, ...args].
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, BIN, ...args], {
        cwd,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, NO_COLOR: '1', PAGERDUTY_ROUTING_KEY: KEY },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  it.each<[string, string]>([
    ['an uncaught exception', `setTimeout(() => { throw new Error('boom with key ${KEY} and 0123456789abcdefABCDEF0123456789'); }, 300);`],
    ['an unhandled rejection', `setTimeout(() => { Promise.reject(new Error('boom with key ${KEY} and 0123456789abcdefABCDEF0123456789')); }, 300);`],
  ])('%s anywhere ends as 70 with the request to report it, not a raw crash with exit 1', async (_name, rogue) => {
    const pd = await pdServer();
    pd.reply(() => 'hang');
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, timeout: '5s' } }, services: [{ slug: 'backup' }] });
    const res = await withScript(rogue, ['--config', join(proj.dir, 'medic.config.json'), 'test-alert'], proj.dir);
    expect(res.code, res.stderr).toBe(70);
    expect(res.stderr).toMatch(/^medic: internal error: boom with key a1b2…o5p6 and 0123…6789\n {2}→ this is a bug in Medic; please report it/);
    expect(res.stderr).not.toContain(KEY);
    expect(res.stderr).not.toMatch(/^Node\.js v\d/m);
  });

  it('the process ends soon after the command, even if a timer or socket lingers', async () => {
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } }, services: [{ slug: 'backup' }] });
    const res = await withScript('setTimeout(() => setInterval(() => {}, 1000), 0);', ['--config', join(proj.dir, 'medic.config.json'), 'status'], proj.dir);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('backup');
    expect(res.ms).toBeLessThan(10_000);
  });

  it('a usage error naming a routing key from the environment does not print the key', async () => {
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } }, services: [{ slug: 'backup' }] });
    const res = await proj.run(['test-alert', '--target', KEY]);
    expect(res.code).toBe(64);
    expect(res.stderr).toContain("unknown target 'a1b2…o5p6'");
    expect(res.stderr).not.toContain(KEY);
  });
});

describe('userinfo in a URL is never printed', { timeout: 60_000 }, () => {
  it('test-alert to an events URL with a password: refused as a config problem (78) that never shows the password', async () => {
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://relay:pa55w0rd@127.0.0.1:9/v2/enqueue', timeout: '1s' } }, services: [{ slug: 'backup' }] });
    const res = await proj.run(['test-alert']);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('targets.oncall.eventsUrl');
    expect(res.stderr).not.toContain('pa55w0rd');
  });
});

describe("doctor's probe of the events URL", { timeout: 60_000 }, () => {
  it('a wrong path fails with what to change', async () => {
    const pd = await pdServer();
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url.replace('/v2/enqueue', '/v2/enqueu') } }, services: [{ slug: 'backup' }] });
    const res = await proj.run(['doctor']);
    expect(res.code).toBe(75);
    expect(res.stdout).toContain(`${pd.url.replace('/v2/enqueue', '/v2/enqueu')} (target oncall): eventsUrl path is wrong (HTTP 404`);
    expect(res.stdout).toContain('→ the Events API v2 URL ends in /v2/enqueue');
    expect(pd.requests.map((r) => `${r.method} ${r.path} ${r.rawBody}`)).toEqual(['POST /v2/enqueu {}']);
  });
});

describe('NODE_TLS_REJECT_UNAUTHORIZED=0', { timeout: 60_000 }, () => {
  it('check and test-alert say once that certificate checks are off', async () => {
    const pd = await pdServer();
    const proj = project({ targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url } }, services: [{ slug: 'backup' }], checker: { gapThreshold: '30d' } });
    for (const args of [['check'], ['test-alert']]) {
      const res = await proj.run(args, { env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' } });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr.split('\n').filter((l) => l.startsWith('medic: NODE_TLS_REJECT_UNAUTHORIZED=0 turns certificate checks off'))).toHaveLength(1);
    }
    const quiet = await proj.run(['check']);
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
  });
});
