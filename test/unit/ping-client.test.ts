/**
 * src/notify/ping-client.ts: what a MEDIC_URL may be, the path of each signal, what an answer
 * means (tables), and the retry schedule with an injected clock and a fake sender (no network,
 * no real time). One case at the end goes through the real undici sender to the loopback stand-in.
 */
import { describe, expect, it } from 'vitest';
import {
  ATTEMPT_MAX_MS,
  backoffMs,
  httpPingSender,
  judgePing,
  type Ping,
  pingClient,
  type PingOutcome,
  pingPath,
  PING_BUDGET_MS,
  readPingBase,
} from '../../src/notify/ping-client.js';
import { EXIT, isMedicError, type MedicError } from '../../src/errors.js';
import { remoteRun, remoteTarget } from '../../src/commands/remote.js';
import { closedAfterEach } from '../helpers/standins.js';
import { startPingServer } from '../helpers/ping-server.js';

/** An obviously fake ping key (22 URL-safe characters, as Healthchecks makes them). */
const PING_KEY = 'fake-ping-key_0123456x';
const BASE = `https://medic.example.test/ping/${PING_KEY}`;

describe('what MEDIC_URL may be', () => {
  it.each<[string, string, string | null]>([
    ['https with a ping key', BASE, null],
    ['http to loopback', `http://127.0.0.1:8080/ping/${PING_KEY}`, null],
    ['http to localhost', `http://localhost:8080/ping/${PING_KEY}`, null],
    ['a prefix before /ping', `https://example.test/medic/ping/${PING_KEY}`, null],
    ['one slash after the key is dropped', `${BASE}/`, null],
    ['plain http elsewhere is refused', `http://medic.example.test/ping/${PING_KEY}`, 'plain http:// is only allowed to loopback'],
    ['user:password is refused', `https://bob:secret@medic.example.test/ping/${PING_KEY}`, 'credentials in a URL (user:password@) are refused'],
    ['a trailing slash: no key', 'https://medic.example.test/ping/', 'does not end in the ping key'],
    ['a trailing slash after a short key', 'https://medic.example.test/ping/short/', 'does not end in the ping key'],
    ['no path: no key', 'https://medic.example.test', 'does not end in the ping key'],
    ['a short key', 'https://medic.example.test/ping/short', 'must be 16 or more of A-Z a-z 0-9 _ -, got 5 characters'],
    ['a key with other characters', `https://medic.example.test/ping/${PING_KEY}%21`, 'with others among them'],
    ['a query', `${BASE}?x=1`, 'no query'],
    ['a fragment', `${BASE}#x`, 'no query'],
    ['two slashes after the key', `${BASE}//`, 'https://medic.example.test/ping/<ping-key>//: the URL does not end in the ping key'],
    ['a part after the key', `${BASE}/x`, 'https://medic.example.test/ping/<ping-key>/<ping-key>: the ping key (the URL\'s last part) must be 16 or more'],
    ['a key with others after it, then a part', `${BASE}%21/x`, 'https://medic.example.test/ping/<ping-key>/<ping-key>: the ping key'],
    ['a part after the key, plain http elsewhere', `http://medic.example.test/ping/${PING_KEY}/x`, 'plain http:// is only allowed to loopback'],
    ['not a URL', `medic.example.test/ping/${PING_KEY}`, 'expected a URL like https://medic.internal/ping/<ping-key>'],
    ['another scheme', `ftp://medic.example.test/ping/${PING_KEY}`, 'expected an https:// URL'],
  ])('%s', (_name, value, problem) => {
    const read = readPingBase(value);
    if (problem === null) {
      expect(read).toMatchObject({ key: PING_KEY, href: value.replace(/\/$/, '') });
      expect((read as { shown: string }).shown).toBe(value.replace(PING_KEY, '<ping-key>').replace(/\/$/, ''));
    } else {
      expect((read as { problem: string }).problem).toContain(problem);
      // The key is a secret: a problem never quotes it.
      expect((read as { problem: string }).problem).not.toContain(PING_KEY);
    }
  });

  it.each<[string, string | undefined, number | string]>([
    ['default', undefined, PING_BUDGET_MS],
    ['a duration', '3s', 3000],
    ['seconds', '20', 20_000],
    ['too short', '0s', 'MEDIC_URL_TIMEOUT: expected a duration from 1s to 5m'],
    ['too long', '1h', 'MEDIC_URL_TIMEOUT: expected a duration from 1s to 5m'],
    ['not a duration', 'soon', 'MEDIC_URL_TIMEOUT: expected a duration from 1s to 5m like "10s", got "soon"'],
  ])('MEDIC_URL_TIMEOUT: %s', (_name, value, expected) => {
    const read = () => remoteTarget(BASE, 'MEDIC_URL', { MEDIC_URL_TIMEOUT: value });
    if (typeof expected === 'number') expect(read().budgetMs).toBe(expected);
    else expect(read).toThrow(expected);
  });

  it.each<['MEDIC_URL' | '--url', number]>([
    ['MEDIC_URL', EXIT.config],
    ['--url', EXIT.usage],
  ])('a bad %s exits %i', (from, code) => {
    let err: unknown;
    try {
      remoteTarget(`http://medic.example.test/ping/${PING_KEY}`, from, {});
    } catch (e) {
      err = e;
    }
    expect(isMedicError(err) && err.exitCode).toBe(code);
    expect((err as Error).message).toMatch(new RegExp(`^${from}: `));
  });
});

describe('the path of each signal', () => {
  const rid = '0b3c8f4e-8a4e-4c1e-9d5e-2f1a3b4c5d6e';
  it.each<[string, Pick<Ping, 'signal' | 'runId'>, string]>([
    ['a beat', { signal: 'ok' }, '/backup'],
    ['a start', { signal: 'start' }, '/backup/start'],
    ['a failure', { signal: 'fail' }, '/backup/fail'],
    ['a run that exited 0', { signal: { exitStatus: 0 }, runId: rid }, `/backup/0?rid=${rid}`],
    ['a run that exited 3', { signal: { exitStatus: 3 } }, '/backup/3'],
    ['255 is the last exit status', { signal: { exitStatus: 255 } }, '/backup/255'],
    ['256 is out of range: a failure', { signal: { exitStatus: 256 } }, '/backup/fail'],
    ['a negative code: a failure', { signal: { exitStatus: -1 } }, '/backup/fail'],
    ['a start paired by rid', { signal: 'start', runId: rid }, `/backup/start?rid=${rid}`],
  ])('%s', (_name, ping, path) => {
    expect(pingPath({ slug: 'backup', ...ping })).toBe(path);
  });
});

describe('what an answer means', () => {
  const ctx = { shown: 'https://medic.example.test/ping/<ping-key>', slug: 'backup', hide: (t: string) => t.replaceAll(PING_KEY, '<ping-key>'), now: 0, hadBody: true };
  it.each<[string, number, string, Record<string, string>, string | number]>([
    ['200 OK is delivered', 200, 'OK', {}, 'ok'],
    ['201 Created (Healthchecks made the check) is delivered', 201, 'Created', {}, 'ok'],
    ['a 200 login page is something else answering: 78', 200, '<html>login</html>', {}, EXIT.config],
    ['a redirect is not followed: 78', 302, '', { location: `https://other.example.test/ping/${PING_KEY}/backup` }, EXIT.config],
    ['404 not found: unknown slug or wrong key, 65', 404, 'not found', {}, EXIT.data],
    ['400 is refused: 65', 400, 'invalid url format', {}, EXIT.data],
    ['409 ambiguous slug: 65', 409, 'ambiguous slug', {}, EXIT.data],
    ['401 from a proxy: 78', 401, 'Unauthorized', {}, EXIT.config],
    ['403: 78', 403, 'Forbidden', {}, EXIT.config],
    ['413 with a body: sent again without it', 413, 'too large', {}, 'withoutBody'],
    ['500: another try', 500, 'Internal Server Error', {}, 'retry'],
    ['503: another try', 503, '', {}, 'retry'],
    ['429: another try', 429, 'rate limited', { 'retry-after': '3' }, 'retry'],
    ['408: another try', 408, '', {}, 'retry'],
  ])('%s', (_name, status, text, headers, expected) => {
    const v = judgePing({ status, headers, text }, ctx);
    if (typeof expected === 'number') expect('stop' in v && v.stop.exitCode).toBe(expected);
    else expect(Object.keys(v)[0]).toBe(expected);
  });

  it('404 says "unknown slug or wrong ping key"; a redirect shows where, without the key', () => {
    const notFound = judgePing({ status: 404, headers: {}, text: 'not found' }, ctx) as { stop: MedicError };
    expect(notFound.stop.message).toBe('unknown slug or wrong ping key: https://medic.example.test/ping/<ping-key>/backup answered HTTP 404: not found');
    const moved = judgePing({ status: 301, headers: { location: `https://other.example.test/ping/${PING_KEY}/backup` }, text: '' }, ctx) as { stop: MedicError };
    expect(moved.stop.message).toBe('https://medic.example.test/ping/<ping-key>/backup answered with a redirect (HTTP 301 to https://other.example.test/ping/<ping-key>/backup); redirects are not followed');
  });

  it('a server’s text is one line, bounded to 200 characters', () => {
    const v = judgePing({ status: 400, headers: {}, text: `bad\r\nmedic: ok\n${'x'.repeat(1000)}` }, ctx) as { stop: MedicError };
    expect(v.stop.message).not.toMatch(/[\r\n]/);
    expect(v.stop.message.length).toBeLessThan(320);
    expect(v.stop.quotesThirdParty).toBe(true);
  });

  it('Retry-After is read (with its one-second floor)', () => {
    expect(judgePing({ status: 429, headers: { 'retry-after': '3' }, text: '' }, ctx)).toEqual({ retry: 'HTTP 429', retryAfterMs: 3000 });
    expect(judgePing({ status: 503, headers: { 'retry-after': '0' }, text: '' }, ctx)).toEqual({ retry: 'HTTP 503', retryAfterMs: 1000 });
  });
});

describe('the backoff', () => {
  it.each<[number, number, number | undefined, number]>([
    [1, 0, undefined, 125],
    [1, 0.999999, undefined, 250],
    [2, 0, undefined, 250],
    [3, 0, undefined, 500],
    [4, 0, undefined, 1000],
    [5, 0, undefined, 1000],
    [9, 0.999999, undefined, 2000],
    [1, 0, 3000, 3000],
  ])('after try %i (random %d, Retry-After %s): %i ms', (tries, random, retryAfter, ms) => {
    expect(backoffMs(tries, random, retryAfter)).toBe(ms);
  });
});

/** A fake sender on a fake clock: each scripted outcome is one try; `hang` uses the try's whole timeout. */
function fake(script: (PingOutcome | 'hang')[], fallback: PingOutcome | 'hang' = { error: 'connection refused' }) {
  let t = 0;
  const calls: { url: string; body: string | undefined; timeoutMs: number; at: number }[] = [];
  const sleeps: number[] = [];
  const deps = {
    monotonic: () => t,
    now: () => 1_800_000_000_000 + t,
    random: () => 0,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
    send: async (url: string, body: string | undefined, timeoutMs: number): Promise<PingOutcome> => {
      calls.push({ url, body, timeoutMs, at: t });
      const next = script.length > 0 ? script.shift()! : fallback;
      if (next === 'hang') {
        t += timeoutMs;
        return { error: `no answer within ${timeoutMs} ms (timeout)` };
      }
      t += 5;
      return next;
    },
  };
  return { deps, calls, sleeps, elapsed: () => t };
}

const base = readPingBase(BASE) as Exclude<ReturnType<typeof readPingBase>, { problem: string }>;
const failure = async (p: Promise<void>): Promise<MedicError> => {
  try {
    await p;
  } catch (err) {
    if (isMedicError(err)) return err;
    throw err;
  }
  throw new Error('expected a failure');
};

describe('the retry schedule (injected clock, fake sender)', () => {
  it('500, 503, then 200: delivered after two backoffs', async () => {
    const f = fake([{ status: 500, headers: {}, text: '' }, { status: 503, headers: {}, text: '' }, { status: 200, headers: {}, text: 'OK' }]);
    await pingClient(base, f.deps).send({ slug: 'backup', signal: 'ok' }, PING_BUDGET_MS, 'beat');
    expect(f.calls.map((c) => c.url)).toEqual(Array(3).fill(`${BASE}/backup`));
    expect(f.sleeps).toEqual([125, 250]);
  });

  it('a network that never answers: tries until the budget is spent, then 75, within the budget', async () => {
    const f = fake([]);
    const err = await failure(pingClient(base, f.deps).send({ slug: 'backup', signal: 'ok' }, PING_BUDGET_MS, 'beat'));
    expect(err.exitCode).toBe(EXIT.tempfail);
    expect(f.elapsed()).toBeLessThanOrEqual(PING_BUDGET_MS);
    expect(f.sleeps).toEqual([125, 250, 500, ...Array<number>(8).fill(1000)]);
    expect(err.message).toBe(`the beat for 'backup' was not delivered to https://medic.example.test/ping/<ping-key>/backup: connection refused (${f.calls.length} tries in ${(f.elapsed() / 1000).toFixed(1)} s)`);
  });

  it('a server that hangs: each try waits at most 4 s, and the whole stays within the budget', async () => {
    const f = fake([], 'hang');
    const err = await failure(pingClient(base, f.deps).send({ slug: 'backup', signal: 'ok' }, PING_BUDGET_MS, 'beat'));
    expect(err.exitCode).toBe(EXIT.tempfail);
    expect(f.calls.map((c) => c.timeoutMs)).toEqual([ATTEMPT_MAX_MS, ATTEMPT_MAX_MS, PING_BUDGET_MS - 2 * ATTEMPT_MAX_MS - 125 - 250]);
    expect(f.elapsed()).toBeLessThanOrEqual(PING_BUDGET_MS);
  });

  it('the start of a run gets 2 s: one try of 2 s against a server that hangs', async () => {
    const f = fake([], 'hang');
    const run = remoteRun('backup', { base, budgetMs: PING_BUDGET_MS }, f.deps);
    const err = await failure(run.start());
    expect(err.exitCode).toBe(EXIT.tempfail);
    expect(f.calls.map((c) => c.timeoutMs)).toEqual([2000]);
    expect(f.calls[0]!.url).toMatch(new RegExp(`^${BASE}/backup/start\\?rid=[0-9a-f-]{36}$`));
  });

  it('429 with Retry-After: 3 waits 3 s, then delivers', async () => {
    const f = fake([{ status: 429, headers: { 'retry-after': '3' }, text: 'slow down' }, { status: 200, headers: {}, text: 'OK' }]);
    await pingClient(base, f.deps).send({ slug: 'backup', signal: 'ok' }, PING_BUDGET_MS, 'beat');
    expect(f.sleeps).toEqual([3000]);
  });

  it('a Retry-After beyond the budget: no waiting it out, 75 at once saying so', async () => {
    const f = fake([{ status: 503, headers: { 'retry-after': '60' }, text: '' }]);
    const err = await failure(pingClient(base, f.deps).send({ slug: 'backup', signal: 'ok' }, PING_BUDGET_MS, 'beat'));
    expect(err.exitCode).toBe(EXIT.tempfail);
    expect(f.sleeps).toEqual([]);
    expect(f.calls).toHaveLength(1);
    expect(err.message).toContain('the server asked to wait 60 s, beyond the time left');
  });

  it('413: sent again at once without the body', async () => {
    const f = fake([{ status: 413, headers: {}, text: 'too large' }, { status: 200, headers: {}, text: 'OK' }]);
    await pingClient(base, f.deps).send({ slug: 'backup', signal: 'fail', body: 'x'.repeat(100) }, PING_BUDGET_MS, 'failure');
    expect(f.calls.map((c) => [c.url, c.body?.length])).toEqual([
      [`${BASE}/backup/fail`, 100],
      [`${BASE}/backup/fail`, undefined],
    ]);
    expect(f.sleeps).toEqual([]);
  });

  it('404 stops at once (65): no retry', async () => {
    const f = fake([{ status: 404, headers: {}, text: 'not found' }]);
    const err = await failure(pingClient(base, f.deps).send({ slug: 'backup', signal: 'ok' }, PING_BUDGET_MS, 'beat'));
    expect(err.exitCode).toBe(EXIT.data);
    expect(f.calls).toHaveLength(1);
  });

  it('Ping-Body-Limit of an answer bounds the next body (its last bytes)', async () => {
    const f = fake([{ status: 200, headers: { 'ping-body-limit': '10' }, text: 'OK' }, { status: 200, headers: {}, text: 'OK' }]);
    const client = pingClient(base, f.deps);
    await client.send({ slug: 'backup', signal: 'start' }, PING_BUDGET_MS, 'start signal');
    expect(client.bodyLimit()).toBe(10);
    await client.send({ slug: 'backup', signal: { exitStatus: 0 }, body: 'first line\nlast: é1234' }, PING_BUDGET_MS, 'end');
    expect(f.calls[1]!.body).toBe('st: é1234');
    expect(Buffer.byteLength(f.calls[1]!.body!)).toBeLessThanOrEqual(10);
  });

  it('the ping key is hidden in the body (before any cut) and in what an error quotes', async () => {
    const f = fake([{ error: `cannot send to ${BASE}/backup: boom` }, { status: 200, headers: { 'ping-body-limit': '30' }, text: 'OK' }]);
    const client = pingClient(base, f.deps);
    await client.send({ slug: 'backup', signal: 'fail', body: `the url was ${BASE.toUpperCase()}` }, PING_BUDGET_MS, 'failure');
    expect(f.calls[0]!.body).toBe(`the url was ${BASE.toUpperCase().replace(PING_KEY.toUpperCase(), '<ping-key>')}`);
    const g = fake([], { error: `cannot send to ${BASE}/backup: boom` });
    const err = await failure(pingClient(base, g.deps).send({ slug: 'backup', signal: 'ok' }, 1000, 'beat'));
    expect(err.message).toContain('cannot send to https://medic.example.test/ping/<ping-key>/backup: boom');
    expect(err.message).not.toContain(PING_KEY);
  });

  it('a run’s end: /<exit-status>?rid= of its start, the tail and medic’s word on the run as the body', async () => {
    const f = fake([{ status: 200, headers: {}, text: 'OK' }, { status: 200, headers: {}, text: 'OK' }]);
    const run = remoteRun('backup', { base, budgetMs: PING_BUDGET_MS }, f.deps);
    await run.start();
    await run.end({ kind: 'fail', exitCode: 124, durationMs: 1000, outputTail: 'working', message: 'sleep: timed out after 1s (medic run --timeout)' });
    const rid = new URL(f.calls[0]!.url).searchParams.get('rid');
    expect(rid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(f.calls[1]).toMatchObject({ url: `${BASE}/backup/124?rid=${rid}`, body: 'working\nsleep: timed out after 1s (medic run --timeout)\n' });
  });
});

describe('through the real sender, on loopback', () => {
  const track = closedAfterEach();
  it('posts text/plain UTF-8 and reads Healthchecks’ OK', async () => {
    const server = await track(startPingServer({ key: PING_KEY, slugs: ['backup'] }));
    const loopback = readPingBase(server.url) as typeof base;
    const client = pingClient(loopback, { send: await httpPingSender({}), monotonic: () => performance.now(), now: Date.now, sleep: (ms) => new Promise((r) => setTimeout(r, ms)), random: Math.random });
    await client.send({ slug: 'backup', signal: 'fail', body: 'disk full ✗' }, 5000, 'failure');
    expect(server.requests[0]).toMatchObject({ method: 'POST', path: `/ping/${PING_KEY}/backup/fail`, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    expect(server.accepted).toEqual([{ slug: 'backup', kind: 'fail', rid: null, body: 'disk full ✗' }]);
    expect(client.bodyLimit()).toBe(10_000);
  });
});
