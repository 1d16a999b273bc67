/**
 * `medic serve` end to end: the real bin/medic on a free loopback port, real HTTP (fetch, raw
 * sockets, curl as Healthchecks' one-liners use it), the beats read back from the SQLite file.
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { query } from '../helpers/db.js';
import { configFor, PING_KEY, rawConnection, ROUTING_KEY, startServe } from '../helpers/serve.js';

const RID = '5f0b8c8e-1d2a-4b5c-9d8e-0f1a2b3c4d5e';

interface BeatRow {
  slug: string;
  kind: string;
  exit_code: number | null;
  duration_ms: number | null;
  output_tail: string | null;
  run_id: string | null;
}
const beats = (db: string, slug = 'backup') => query<BeatRow>(db, 'SELECT slug, kind, exit_code, duration_ms, output_tail, run_id FROM beats WHERE slug = ? ORDER BY id', slug);

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Polls `ok` every 50 ms for up to 10 s (a signal is handled a moment after it is sent). */
async function until(ok: () => Promise<boolean>): Promise<void> {
  for (const t0 = Date.now(); !(await ok()); ) {
    if (Date.now() - t0 > 10_000) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const PING_HEADERS = { 'access-control-allow-origin': '*', 'cache-control': 'no-cache', 'ping-body-limit': '10000' };

describe('medic serve: Healthchecks slug URLs', () => {
  it.each([
    ['GET', '', { kind: 'ok', exit_code: null }],
    ['POST', '', { kind: 'ok', exit_code: null }],
    ['HEAD', '', { kind: 'ok', exit_code: null }],
    ['GET', '/', { kind: 'ok', exit_code: null }],
    ['GET', '/start', { kind: 'start', exit_code: null }],
    ['POST', '/fail', { kind: 'fail', exit_code: null }],
    ['GET', '/0', { kind: 'ok', exit_code: 0 }],
    ['HEAD', '/1', { kind: 'fail', exit_code: 1 }],
    ['POST', '/255', { kind: 'fail', exit_code: 255 }],
  ])('%s /ping/<key>/<slug>%s answers 200 OK with the Healthchecks headers and records %o', async (method, suffix, row) => {
    const s = await startServe(configFor());
    const res = await fetch(`${s.base}/backup${suffix}`, { method });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(method === 'HEAD' ? '' : 'OK');
    expect(Object.fromEntries(Object.keys(PING_HEADERS).map((h) => [h, res.headers.get(h)]))).toEqual(PING_HEADERS);
    expect(beats(s.db)).toEqual([expect.objectContaining({ slug: 'backup', ...row })]);
  }, 30_000);

  it('/log keeps the body as a log line and changes no state', async () => {
    const s = await startServe(configFor());
    const res = await fetch(`${s.base}/backup/log`, { method: 'POST', body: 'rotated 3 files' });
    expect([res.status, await res.text()]).toEqual([200, 'OK']);
    expect(query(s.db, 'SELECT slug, message FROM logs')).toEqual([{ slug: 'backup', message: 'rotated 3 files' }]);
    expect(beats(s.db)).toEqual([]);
  }, 30_000);

  it('?rid pairs a start and its end: the end gets the run duration', async () => {
    const s = await startServe(configFor());
    expect((await fetch(`${s.base}/backup/start?rid=${RID}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${s.base}/backup/0?rid=${RID.toUpperCase()}`)).status).toBe(200);
    const [start, end] = beats(s.db);
    expect(start).toMatchObject({ kind: 'start', run_id: RID });
    expect(end).toMatchObject({ kind: 'ok', exit_code: 0, run_id: RID });
    expect(end!.duration_ms).toBeGreaterThanOrEqual(300);
    expect(end!.duration_ms).toBeLessThan(5000);
  }, 30_000);

  it('answers 400 for an exit status over 255 and a rid that is not a UUID, 405 for other methods, and records nothing', async () => {
    const s = await startServe(configFor());
    const a = await fetch(`${s.base}/backup/256`);
    expect([a.status, await a.text()]).toEqual([400, 'invalid url format']);
    const b = await fetch(`${s.base}/backup?rid=1234`);
    expect([b.status, await b.text()]).toEqual([400, 'invalid rid (expected a UUID)']);
    const c = await fetch(`${s.base}/backup`, { method: 'PUT' });
    expect([c.status, c.headers.get('allow')]).toEqual([405, 'GET, POST, HEAD']);
    expect(beats(s.db)).toEqual([]);
  }, 30_000);

  it('gives a wrong ping key and an unknown slug the same answer: 404 "not found"', async () => {
    const s = await startServe(configFor());
    const answer = async (url: string) => {
      const res = await fetch(url);
      const headers = Object.fromEntries([...res.headers].filter(([h]) => h !== 'date'));
      return { status: res.status, body: await res.text(), headers };
    };
    const wrongKey = await answer(`${s.url}/ping/not-the-ping-key-000000/backup`);
    const unknownSlug = await answer(`${s.base}/no-such-service`);
    expect(wrongKey).toEqual({ status: 404, body: 'not found', headers: expect.objectContaining(PING_HEADERS) });
    expect(unknownSlug).toEqual(wrongKey);
    expect(await answer(`${s.url}/elsewhere`)).toMatchObject({ status: 404, body: 'not found' });
    expect(query(s.db, 'SELECT count(*) AS n FROM beats')).toEqual([{ n: 0 }]);
  }, 30_000);

  it('keeps the first serve.bodyLimit bytes of a body as the output, decoded as UTF-8, routing keys hidden', async () => {
    const s = await startServe(configFor({ bodyLimit: 41 }));
    const body = Buffer.concat([Buffer.from(`key ${ROUTING_KEY} `), Buffer.from([0xff]), Buffer.from(' é'.repeat(50))]);
    const res = await fetch(`${s.base}/backup/fail`, { method: 'POST', body });
    expect(res.headers.get('ping-body-limit')).toBe('41');
    expect(res.status).toBe(200);
    const [row] = beats(s.db);
    // Kept: "key a1b2…o5p6 " (16 bytes) + U+FFFD (3) + 7 × " é" (21) + " " = 41 bytes; the é the cut falls in is dropped whole.
    expect(row!.output_tail).toBe(`key a1b2…o5p6 \ufffd${' é'.repeat(7)} `);
  }, 30_000);

  it('hides a routing key that straddles serve.bodyLimit before cutting: no part of it is kept', async () => {
    const s = await startServe(configFor({ bodyLimit: 40 }));
    const res = await fetch(`${s.base}/backup/fail`, { method: 'POST', body: `${'x'.repeat(30)}${ROUTING_KEY} and more` });
    expect(res.status).toBe(200);
    const [row] = beats(s.db);
    // Cut first, 10 of the key's 32 characters would have been kept; hidden first, only the redaction's own ends are.
    expect(row!.output_tail).toBe(`${'x'.repeat(30)}a1b2…o5p`);
    expect(row!.output_tail).not.toContain(ROUTING_KEY.slice(0, 6));
  }, 30_000);

  it('answers 413 to a body declared over the hard cap without reading it, and closes the connection', async () => {
    const s = await startServe(configFor());
    const c = await rawConnection(s.url);
    c.socket.write(`POST /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n`);
    const ms = await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 /);
    expect(c.received()).toMatch(/\r\n\r\nrequest body too large$/);
    expect(c.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(ms).toBeLessThan(2000);
    expect(beats(s.db)).toEqual([]);
  }, 30_000);

  it('answers 413 to a chunked body as soon as it grows past the hard cap (1 MiB), and closes the connection', async () => {
    const s = await startServe(configFor());
    const c = await rawConnection(s.url);
    c.socket.write(`POST /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = 64 * 1024;
    // 17 chunks of 64 KiB (just over 1 MiB), then the client would go on: the server must not wait for the end.
    for (let i = 0; i < 17 && !c.socket.destroyed; i++) c.socket.write(`${chunk.toString(16)}\r\n${'x'.repeat(chunk)}\r\n`);
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 413 [^]*\r\n\r\nrequest body too large$/);
    expect(beats(s.db)).toEqual([]);
  }, 30_000);

  it('drops a client that trickles its headers (408 after serve.headersTimeout) and one that never finishes its body (serve.requestTimeout)', async () => {
    const s = await startServe(configFor({ headersTimeout: '1s', requestTimeout: '2s' }));
    const slowHeaders = await rawConnection(s.url);
    slowHeaders.socket.write(`GET /ping/${PING_KEY}/backup HTTP/1.1\r\n`);
    const drip = setInterval(() => slowHeaders.socket.write('X-A: b\r\n'), 200);
    const silent = await rawConnection(s.url);
    const slowBody = await rawConnection(s.url);
    slowBody.socket.write(`POST /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes.`);
    const [h, q, b] = await Promise.all([slowHeaders.closed, silent.closed, slowBody.closed]);
    clearInterval(drip);
    expect(h).toBeLessThan(4000);
    expect(q).toBeLessThan(4000);
    expect(b).toBeLessThan(5000);
    expect(slowHeaders.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(slowBody.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(beats(s.db)).toEqual([]);
    // The server itself is fine.
    expect((await fetch(`${s.base}/backup`)).status).toBe(200);
  }, 30_000);

  it('answers 431 to headers over 16 KiB', async () => {
    const s = await startServe(configFor());
    const c = await rawConnection(s.url);
    c.socket.write(`GET /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 431 /);
    expect(beats(s.db)).toEqual([]);
  }, 30_000);

  it('closes connections over serve.maxConnections at once', async () => {
    const s = await startServe(configFor({ maxConnections: 2 }));
    const held = [await rawConnection(s.url), await rawConnection(s.url)];
    await new Promise((r) => setTimeout(r, 200));
    const extra = await rawConnection(s.url);
    extra.socket.write(`GET /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(await extra.closed).toBeLessThan(2000);
    expect(extra.received()).toBe('');
    held[0]!.socket.destroy();
    await held[0]!.closed;
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${s.base}/backup`, { headers: { connection: 'close' } })).status).toBe(200);
  }, 30_000);
});

describe('medic serve: life cycle', () => {
  it('on SIGTERM finishes the request in flight (its beat committed and answered), refuses new ones, closes the store and exits 0', async () => {
    const s = await startServe(configFor());
    const c = await rawConnection(s.url);
    c.socket.write(`POST /ping/${PING_KEY}/backup/fail HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhalf `);
    await new Promise((r) => setTimeout(r, 300));
    s.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    expect(await fetch(`${s.base}/backup`).catch((e: Error) => e)).toBeInstanceOf(Error);
    c.socket.write('done.!');
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\nOK$/);
    expect(c.received()).toMatch(/\r\nConnection: close\r\n/i);
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(beats(s.db)).toEqual([expect.objectContaining({ kind: 'fail', output_tail: 'half done.!' })]);
    expect(s.stderr()).toBe('');
  }, 30_000);

  it('answers /healthz 200 while the database is writable and 503 when it is not', async () => {
    const { makeReadOnly } = await import('../helpers/faults.js');
    const s = await startServe(configFor());
    const health = async () => {
      const res = await fetch(`${s.url}/healthz`);
      return [res.status, await res.text()];
    };
    expect(await health()).toEqual([200, 'OK']);
    const ro = makeReadOnly(s.db);
    await new Promise((r) => setTimeout(r, 1600)); // past the cached answer
    expect(await health()).toEqual([503, 'database not writable']);
    ro.undo();
    await new Promise((r) => setTimeout(r, 1600));
    expect(await health()).toEqual([200, 'OK']);
  }, 30_000);

  it.each([
    [{ MEDIC_PING_KEY: undefined }, /medic serve needs a ping key: the environment variable MEDIC_PING_KEY \(serve.pingKeyEnv\) is not set/],
    [{ MEDIC_PING_KEY: 'short-key-9' }, /the ping key in the environment variable MEDIC_PING_KEY \(serve.pingKeyEnv\) is too short \(11 characters\)/],
    [{ MEDIC_PING_KEY: 'has spaces in the key 0123' }, /holds a character other than A-Z a-z 0-9 _ -/],
  ])('exits 78 with a clear message when the ping key is %o, never printing it', async (env, message) => {
    const run = startServe(configFor(), { env });
    const err = (await run.catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/exited 78 before listening/);
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(/openssl rand/);
    if (env.MEDIC_PING_KEY) expect(err.message).not.toContain(env.MEDIC_PING_KEY);
  }, 30_000);

  it('reads the ping key from serve.pingKeyFile', async () => {
    const { serveDir } = await import('../helpers/serve.js');
    const { writeFileSync } = await import('node:fs');
    const dir = serveDir();
    writeFileSync(`${dir}/ping.key`, 'from-the-file-0123456789\n', { mode: 0o600 });
    const s = await startServe(configFor({ pingKeyFile: 'ping.key' }), { dir, env: { MEDIC_PING_KEY: undefined } });
    expect((await fetch(`${s.url}/ping/from-the-file-0123456789/backup`)).status).toBe(200);
    expect((await fetch(`${s.base}/backup`)).status).toBe(404);
  }, 30_000);

  it('with -v logs one line per request with the ping key replaced, and never the key (right or wrong) anywhere', async () => {
    const s = await startServe(configFor(), { args: ['-v'] });
    await fetch(`${s.base}/backup/start?rid=${RID}`);
    await fetch(`${s.url}/ping/wrong-ping-key-0000000/backup`);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    const lines = s.stdout().trim().split('\n');
    expect(lines[1]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z 127\.0\.0\.1 GET \/ping\/…\/backup\/start 200 [\d.]+ms$/);
    expect(lines[2]).toMatch(/ GET \/ping\/…\/backup 404 /);
    expect(lines.at(-1)).toBe('medic serve: stopped; 1 beat in 1 commit');
    expect(s.stdout() + s.stderr()).not.toContain(PING_KEY);
    expect(s.stdout() + s.stderr()).not.toContain('wrong-ping-key');
  }, 30_000);

  it('prints nothing per request without -v', async () => {
    const s = await startServe(configFor());
    await fetch(`${s.base}/backup`);
    s.child.kill('SIGTERM');
    await s.exited;
    expect(s.stdout()).toMatch(/^medic serve: listening on http:\/\/127\.0\.0\.1:\d+ \(2 services\)\n$/);
    expect(s.stderr()).toBe('');
  }, 30_000);

  it('group commit: under concurrent load it writes fewer transactions than requests, and every acknowledged beat is stored', async () => {
    const { Agent, request } = await import('node:http');
    const s = await startServe(configFor(), { args: ['-v'] });
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });
    const u = new URL(s.base);
    const one = (i: number) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ agent, host: u.hostname, port: u.port, path: `${u.pathname}/${i % 2 ? 'backup' : 'db-dump'}`, method: 'POST' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        });
        req.on('error', reject);
        req.end(`run ${i}`);
      });
    const statuses = await Promise.all(Array.from({ length: 400 }, (_, i) => one(i)));
    agent.destroy();
    expect(statuses.every((x) => x === 200)).toBe(true);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    const m = /stopped; (\d+) beats in (\d+) commits/.exec(s.stdout());
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(400);
    expect(Number(m![2])).toBeLessThan(400 / 4);
    expect(query(s.db, 'SELECT count(*) AS n FROM beats')).toEqual([{ n: 400 }]);
  }, 60_000);

  it('SIGHUP reads the config again; a broken one is reported and the running one kept', async () => {
    const s = await startServe(configFor());
    expect((await fetch(`${s.base}/new-job`)).status).toBe(404);
    s.writeConfig(configFor({}, ['backup', 'new-job']));
    s.child.kill('SIGHUP');
    await until(async () => (await fetch(`${s.base}/new-job`)).status === 200);
    s.writeConfig({ ...configFor({}, ['backup']), services: [{ slug: 'backup', interval: '5 minutes' }] });
    s.child.kill('SIGHUP');
    await until(async () => s.stderr() !== '');
    expect(s.stderr()).toMatch(/^medic serve: the config was not reloaded, still serving with the previous one: invalid config .*\n.*services\[0\]\.interval/);
    expect((await fetch(`${s.base}/new-job`)).status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  }, 30_000);

  it("works with Healthchecks' curl one-liners (-fsS -m 10 --retry 5), GET and POST of the exit status", async () => {
    const s = await startServe(configFor());
    expect(await curl(['-fsS', '-m', '10', '--retry', '5', `${s.base}/backup`])).toEqual({ code: 0, stdout: 'OK', stderr: '' });
    expect(await curl(['-fsS', '-m', '10', '--retry', '5', '--data-raw', 'exit 3: disk full', `${s.base}/backup/3`])).toEqual({ code: 0, stdout: 'OK', stderr: '' });
    const wrong = await curl(['-fsS', '-m', '10', `${s.url}/ping/wrong-key-000000000000/backup`]);
    expect(wrong.code).toBe(22);
    expect(beats(s.db)).toEqual([expect.objectContaining({ kind: 'ok' }), expect.objectContaining({ kind: 'fail', exit_code: 3, output_tail: 'exit 3: disk full' })]);
  }, 30_000);

  it('serves HTTPS with serve.tls', async () => {
    const { serveDir } = await import('../helpers/serve.js');
    const dir = serveDir();
    const made = await new Promise<Error | null>((resolve) =>
      execFile('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], (err) => resolve(err)),
    );
    expect(made).toBeNull();
    const s = await startServe(configFor({ tls: { cert: 'cert.pem', key: 'key.pem' } }), { dir });
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await curl(['-fsS', '-m', '10', '--cacert', `${dir}/cert.pem`, `${s.base}/backup`])).toEqual({ code: 0, stdout: 'OK', stderr: '' });
    expect((await curl(['-fsS', '-m', '10', `${s.base}/backup`])).code).not.toBe(0); // an unknown certificate is refused by curl
  }, 30_000);

  it('refuses a TLS private key that other users can write (exit 78)', async () => {
    const { serveDir } = await import('../helpers/serve.js');
    const { chmodSync, writeFileSync } = await import('node:fs');
    const dir = serveDir();
    writeFileSync(`${dir}/cert.pem`, 'not used');
    writeFileSync(`${dir}/key.pem`, 'not used');
    chmodSync(`${dir}/key.pem`, 0o666);
    const err = (await startServe(configFor({ tls: { cert: 'cert.pem', key: 'key.pem' } }), { dir }).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/exited 78 before listening/);
    expect(err.message).toMatch(/the TLS private key file .*key\.pem \(serve\.tls\.key\) is not safe to read a private key from: every user on this machine can write it/);
  }, 30_000);

  it('exits 74 when the database cannot be opened', async () => {
    const err = (await startServe({ ...configFor(), database: '/proc/medic-serve-test/medic.db' }).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/exited 74 before listening/);
    expect(err.message).toMatch(/medic\.db/);
  }, 30_000);

  it('does not wait for idle keep-alive connections when it stops', async () => {
    const s = await startServe(configFor());
    const c = await rawConnection(s.url);
    c.socket.write(`GET /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK/);
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
  }, 30_000);

  it('exits 78 naming serve.listen when the address is taken', async () => {
    const first = await startServe(configFor());
    const port = new URL(first.url).port;
    const err = (await startServe(configFor({ listen: `127.0.0.1:${port}` })).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/exited 78 before listening/);
    expect(err.message).toMatch(/cannot listen on 127\.0\.0\.1:\d+ \(serve\.listen\): the address is already in use/);
  }, 30_000);
});
