/**
 * `medic beat` and `medic run` on a host without a database, through the real binary: with
 * MEDIC_URL (or --url) they send Healthchecks-style pings to a stand-in for `medic serve` on
 * 127.0.0.1 (test/helpers/ping-server.ts). No config file exists in these folders. The ping key
 * is a secret: no output of any case may hold it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CliResult, medic, tempProject } from '../helpers/cli.js';
import { GUIDE_EXAMPLE_KEY } from '../fixtures/pagerduty.js';
import { closedAfterEach } from '../helpers/standins.js';
import { type PingServer, startPingServer, UUID } from '../helpers/ping-server.js';

/** Obviously fake ping keys. */
const PING_KEY = 'fake-ping-key_0123456x';
const OTHER_KEY = 'other-fake-key_9876543';
const SLUG = 'nightly-backup';

const track = closedAfterEach();
const serve = (opts: { bodyLimit?: number; key?: string } = {}): Promise<PingServer> => track(startPingServer({ key: opts.key ?? PING_KEY, slugs: [SLUG], bodyLimit: opts.bodyLimit }));

const root = mkdtempSync(join(tmpdir(), 'medic-remote-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs bin/medic in a fresh folder with no config in it; no output may hold a ping key. */
async function run(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const cwd = mkdtempSync(join(root, 'host-'));
  const res = await medic(args, { cwd, env: { NO_COLOR: '1', ...env }, killAfterMs: 60_000 });
  for (const key of [PING_KEY, OTHER_KEY]) {
    expect(res.stdout + res.stderr).not.toContain(key);
    expect((res.stdout + res.stderr).toLowerCase()).not.toContain(key.toLowerCase());
  }
  return res;
}

describe('medic beat with MEDIC_URL', { timeout: 60_000 }, () => {
  it('sends the beat to <MEDIC_URL>/<slug>, needs no config, prints nothing, exits 0', async () => {
    const server = await serve();
    const res = await run(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(server.requests.map((r) => [r.method, r.path])).toEqual([['POST', `/ping/${PING_KEY}/${SLUG}`]]);
    expect(server.accepted).toEqual([{ slug: SLUG, kind: 'ok', rid: null, body: '' }]);
  });

  it('a slash after the key (MEDIC_URL=…/<ping-key>/) names the same URL: the beat goes to <key>/<slug>', async () => {
    const server = await serve();
    const res = await run(['beat', SLUG], { MEDIC_URL: `${server.url}/` });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(server.requests.map((r) => [r.method, r.path])).toEqual([['POST', `/ping/${PING_KEY}/${SLUG}`]]);
  });

  it.each<[string, string[], string, string]>([
    ['--start', ['--start'], 'start', ''],
    ['--fail -m', ['--fail', '-m', 'disk full ✗'], 'fail', 'disk full ✗'],
    ['-m alone (a success with words)', ['-m', 'copied 3 GB'], 'ok', 'copied 3 GB'],
  ])('%s: its own URL, the text as a text/plain body', async (_name, flags, kind, body) => {
    const server = await serve();
    const res = await run(['beat', SLUG, ...flags], { MEDIC_URL: server.url });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(server.accepted).toEqual([{ slug: SLUG, kind, rid: null, body }]);
    if (body) expect(server.requests[0]!.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('-m: the ping key and a routing key from the environment are hidden in the body', async () => {
    const server = await serve();
    const res = await run(['beat', SLUG, '--fail', '-m', `curl ${server.url}/x failed; key ${GUIDE_EXAMPLE_KEY}`], { MEDIC_URL: server.url, PAGERDUTY_ROUTING_KEY: GUIDE_EXAMPLE_KEY });
    expect(res.code).toBe(0);
    expect(server.accepted[0]!.body).toBe(`curl ${server.origin}/ping/<ping-key>/x failed; key a1b2…o5p6`);
  });

  it('--url wins over MEDIC_URL', async () => {
    const wanted = await serve();
    const other = await serve({ key: OTHER_KEY });
    const res = await run(['beat', SLUG, '--url', wanted.url], { MEDIC_URL: other.url });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(wanted.accepted).toHaveLength(1);
    expect(other.requests).toHaveLength(0);
  });

  it('MEDIC_URL wins over a config and its database (the quick path hands over): nothing is written here', async () => {
    const server = await serve();
    const project = tempProject({ services: [{ slug: SLUG, interval: '1h' }] });
    try {
      const res = await project.run(['beat', SLUG, '-c', project.configPath], { env: { MEDIC_URL: server.url } });
      expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(server.accepted).toHaveLength(1);
      expect(existsSync(join(project.dir, 'medic.db'))).toBe(false);
    } finally {
      project.remove();
    }
  });

  it.each<[string, (s: PingServer) => string, string]>([
    ['an unknown slug', (s) => s.url, 'no-such-service'],
    ['a wrong ping key', (s) => `${s.origin}/ping/${OTHER_KEY}`, SLUG],
  ])('%s: 404 → exit 65 "unknown slug or wrong ping key"', async (_name, url, slug) => {
    const server = await serve();
    const res = await run(['beat', slug], { MEDIC_URL: url(server) });
    expect(res.code).toBe(65);
    expect(res.stderr).toMatch(/^medic: unknown slug or wrong ping key: http:\/\/127\.0\.0\.1:\d+\/ping\/<ping-key>\/[a-z-]+ answered HTTP 404: not found\n/);
  });

  it('a slug that breaks the slug rule is refused (65) before anything is sent', async () => {
    const server = await serve();
    const res = await run(['beat', 'Bad Slug'], { MEDIC_URL: server.url });
    expect(res.code).toBe(65);
    expect(server.requests).toHaveLength(0);
  });

  it('400: exit 65 with the server’s words, on one line, control characters escaped', async () => {
    const server = await serve();
    server.replyQueue({ status: 400, body: 'invalid uuid format\u001b[2J\rmedic: ok\nnext' });
    const res = await run(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res.code).toBe(65);
    expect(res.stderr.split('\n')[0]).toMatch(/^medic: medic serve refused the beat: .* answered HTTP 400: invalid uuid format\\x1b\[2J medic: ok next$/);
    expect(res.stderr).not.toContain('\u001b');
  });

  it('413: sent again without the body, and delivered', async () => {
    const server = await serve();
    server.replyQueue({ status: 413, body: 'request entity too large' });
    const res = await run(['beat', SLUG, '--fail', '-m', 'a long story'], { MEDIC_URL: server.url });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(server.requests.map((r) => r.body.toString())).toEqual(['a long story', '']);
    expect(server.accepted).toEqual([{ slug: SLUG, kind: 'fail', rid: null, body: '' }]);
  });

  it('500, then OK: retried and delivered', async () => {
    const server = await serve();
    server.replyQueue({ status: 500, body: 'Internal Server Error' });
    const res = await run(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(server.requests).toHaveLength(2);
    expect(server.accepted).toHaveLength(1);
  });

  it('429 with Retry-After: 1, then OK: the second try waits the second', async () => {
    const server = await serve();
    server.replyQueue({ status: 429, body: 'rate limited', headers: { 'retry-after': '1' } });
    const res = await run(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res.code).toBe(0);
    const [first, second] = server.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  it('a redirect is not followed: exit 78, one request, the target shown without the key', async () => {
    const server = await serve();
    const elsewhere = await serve();
    server.replyQueue({ status: 301, headers: { location: `${elsewhere.url}/${SLUG}` } });
    const res = await run(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`answered with a redirect (HTTP 301 to ${elsewhere.origin}/ping/<ping-key>/${SLUG}); redirects are not followed`);
    expect(server.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('a 200 that is not "OK" is something else answering there: exit 78', async () => {
    const server = await serve();
    server.replyQueue({ status: 200, body: '<html>Please log in</html>' });
    const res = await run(['beat', SLUG], { MEDIC_URL: server.url });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('instead of "OK": something other than medic serve answers there');
  });

  // Checked for shape only: none of these hosts is ever contacted (nothing listens for them, and
  // the answer comes at once).
  it.each<[string, string[], Record<string, string>, number, string]>([
    ['plain http to another host (MEDIC_URL)', [], { MEDIC_URL: `http://medic.example.test/ping/${PING_KEY}` }, 78, 'MEDIC_URL: plain http:// is only allowed to loopback'],
    ['plain http to another host (--url)', ['--url', `http://medic.example.test/ping/${PING_KEY}`], {}, 64, '--url: plain http:// is only allowed to loopback'],
    ['user:password in the URL', ['--url', `https://bob:hunter2@medic.example.test/ping/${PING_KEY}`], {}, 64, 'credentials in a URL (user:password@) are refused'],
    ['an empty key (an unset variable)', [], { MEDIC_URL: 'https://medic.example.test/ping/' }, 78, 'the URL does not end in the ping key'],
    ['a short key', [], { MEDIC_URL: 'https://medic.example.test/ping/abc' }, 78, 'must be 16 or more of A-Z a-z 0-9 _ -'],
    ['two slashes after the key (MEDIC_URL)', [], { MEDIC_URL: `https://medic.example.test/ping/${PING_KEY}//` }, 78, 'MEDIC_URL: https://medic.example.test/ping/<ping-key>//: the URL does not end in the ping key'],
    ['a part after the key (--url)', ['--url', `https://medic.example.test/ping/${PING_KEY}/x`], {}, 64, '--url: https://medic.example.test/ping/<ping-key>/<ping-key>: the ping key'],
    ['a bad MEDIC_URL_TIMEOUT', [], { MEDIC_URL: `https://medic.example.test/ping/${PING_KEY}`, MEDIC_URL_TIMEOUT: 'forever' }, 78, 'MEDIC_URL_TIMEOUT: expected a duration'],
  ])('%s: refused with its exit code (78 from MEDIC_URL, 64 from --url), at once', async (_name, flags, env, code, message) => {
    const began = performance.now();
    const res = await run(['beat', SLUG, ...flags], env);
    expect(res.code).toBe(code);
    expect(res.stderr).toContain(message);
    expect(res.stderr).not.toContain('hunter2');
    expect(res.stderr).not.toContain(PING_KEY);
    expect(performance.now() - began).toBeLessThan(5000);
  });
});

describe('medic run with MEDIC_URL', { timeout: 60_000 }, () => {
  const pingsOf = (server: PingServer) => server.accepted.map((p) => ({ ...p, rid: p.rid && UUID.test(p.rid) ? 'uuid' : p.rid }));

  it.each([0, 3])('a job that exits %i: /start?rid=, then /<code>?rid= with the same rid and the output; medic exits with the job’s code', async (code) => {
    const server = await serve();
    const res = await run(['run', SLUG, '--', 'sh', '-c', `echo working; exit ${code}`], { MEDIC_URL: server.url });
    expect(res).toEqual({ code, stdout: 'working\n', stderr: '' });
    expect(pingsOf(server)).toEqual([
      { slug: SLUG, kind: 'start', rid: 'uuid', body: '' },
      { slug: SLUG, kind: { exitStatus: code }, rid: 'uuid', body: 'working\n' },
    ]);
    expect(server.accepted[0]!.rid).toBe(server.accepted[1]!.rid);
    expect(server.accepted[0]!.rid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('--timeout: the end is /124, its body the output and medic’s word on why', async () => {
    const server = await serve();
    const res = await run(['run', SLUG, '--timeout', '1s', '--', 'sh', '-c', 'echo started; sleep 30'], { MEDIC_URL: server.url });
    expect(res.code).toBe(124);
    expect(server.accepted[1]).toMatchObject({ kind: { exitStatus: 124 }, body: 'started\nsh: timed out after 1s (medic run --timeout)\n' });
  });

  it('a job killed by a signal: /143 (128 + TERM)', async () => {
    const server = await serve();
    const res = await run(['run', SLUG, '--', 'sh', '-c', 'kill -TERM $$'], { MEDIC_URL: server.url });
    expect(res.code).toBe(143);
    expect(server.accepted[1]).toMatchObject({ kind: { exitStatus: 143 } });
  });

  it('--url wins over MEDIC_URL for a run too', async () => {
    const wanted = await serve();
    const other = await serve({ key: OTHER_KEY });
    const res = await run(['run', '--url', wanted.url, SLUG, '--', 'true'], { MEDIC_URL: other.url });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(wanted.accepted.map((p) => p.kind)).toEqual(['start', { exitStatus: 0 }]);
    expect(other.requests).toHaveLength(0);
  });

  it('the output sent is at most the Ping-Body-Limit the start’s answer gave, its last bytes, keys hidden', async () => {
    const server = await serve({ bodyLimit: 100 });
    const script = `for i in $(seq 1 50); do echo "line $i"; done; echo "${PING_KEY} ${GUIDE_EXAMPLE_KEY}"`;
    // The job prints the key itself (its output passes through untouched): not run() with its check.
    const res = await medic(['run', SLUG, '--', 'sh', '-c', script], { cwd: mkdtempSync(join(root, 'host-')), env: { MEDIC_URL: server.url, PAGERDUTY_ROUTING_KEY: GUIDE_EXAMPLE_KEY } });
    expect(res.code).toBe(0);
    expect(res.stderr).toBe('');
    const end = server.requests[1]!;
    expect(end.body.length).toBeLessThanOrEqual(100);
    expect(end.body.toString()).toMatch(/line 50\n<ping-key> a1b2…o5p6\n$/);
  });

  it('a wrong --url is medic’s own command line: exit 64, the job does not run', async () => {
    const cwd = mkdtempSync(join(root, 'host-'));
    const res = await medic(['run', '--url', 'http://medic.example.test/ping/abcdefghijklmnopq', SLUG, '--', 'touch', 'ran'], { cwd, env: { NO_COLOR: '1' } });
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('--url: plain http:// is only allowed to loopback');
    expect(existsSync(join(cwd, 'ran'))).toBe(false);
  });

  it('a wrong MEDIC_URL with the key in it: the warning shows <ping-key>, never the key', async () => {
    const res = await run(['run', SLUG, '--', 'true'], { MEDIC_URL: `https://medic.example.test/ping/${PING_KEY}/x` });
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/^medic run: not monitored: MEDIC_URL: https:\/\/medic\.example\.test\/ping\/<ping-key>\/<ping-key>: the ping key[^\n]*\n$/);
    expect(res.stderr).not.toContain(PING_KEY);
  });

  it('a wrong MEDIC_URL: the job runs unmonitored, one warning, the job’s own code', async () => {
    const res = await run(['run', SLUG, '--', 'sh', '-c', 'echo working; exit 3'], { MEDIC_URL: 'https://medic.example.test/ping/' });
    expect(res.code).toBe(3);
    expect(res.stdout).toBe('working\n');
    expect(res.stderr).toMatch(/^medic run: not monitored: MEDIC_URL: https:\/\/medic\.example\.test\/ping\/: the URL does not end in the ping key[^\n]*\n$/);
  });

  it('a slug that breaks the slug rule: nothing is sent, the job runs, one warning, the job’s own code', async () => {
    const server = await serve();
    const res = await run(['run', 'Bad Slug', '--', 'sh', '-c', 'exit 6'], { MEDIC_URL: server.url });
    expect(res.code).toBe(6);
    expect(res.stderr).toMatch(/^medic run: not monitored: "Bad Slug" is not a valid slug[^\n]*\n$/);
    expect(server.requests).toHaveLength(0);
  });

  it('unknown slug (404): the job runs, one warning, the job’s own code', async () => {
    const server = await serve();
    const res = await run(['run', 'no-such-service', '--', 'sh', '-c', 'exit 5'], { MEDIC_URL: server.url });
    expect(res.code).toBe(5);
    expect(res.stderr).toMatch(/^medic run: not monitored: unknown slug or wrong ping key: [^\n]*\n$/);
  });
});
