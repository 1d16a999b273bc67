/**
 * `medic serve` against what an attacker's review tried (issue 10): the ping key never printed, key
 * files read as secrets, TLS connections that never handshake, a -v nobody reads, a ping key that is
 * a routing key, TLS files mixed up, settings a reload cannot apply. The real bin/medic on loopback.
 */
import { chmodSync, chownSync, copyFileSync, lchownSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFor, makeTlsPair, PING_KEY, rawConnection, ROUTING_KEY, serveDir, startServe } from '../helpers/serve.js';

const STRANGER = process.getuid!() === 4242 ? 4243 : 4242;

/** Polls `ok` every 50 ms for up to 10 s. */
async function until(ok: () => boolean | Promise<boolean>): Promise<void> {
  for (const t0 = Date.now(); !(await ok()); ) {
    if (Date.now() - t0 > 10_000) throw new Error('condition not met within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const refusal = async (...args: Parameters<typeof startServe>) => ((await startServe(...args).catch((e: Error) => e)) as Error).message;

describe('medic serve -v never prints the ping key', () => {
  it('logs near misses of the ping route as <unrouted path, N bytes>, and the key in no line of stdout or stderr', async () => {
    const s = await startServe(configFor(), { args: ['-v'] });
    const c = await rawConnection(s.url);
    const targets = [`//ping/${PING_KEY}/backup`, `/ping//${PING_KEY}/backup`, `/x/ping/${PING_KEY}/backup`, `/PING/${PING_KEY}/backup`, `http://h/ping/${PING_KEY}/backup`, `/ping/x/${PING_KEY}`, `/ping/x/%74${PING_KEY.slice(1)}`];
    c.socket.write(targets.map((t) => `GET ${t} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    await until(() => (c.received().match(/HTTP\/1\.1 404/g) ?? []).length === targets.length);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
    const lines = s.stdout().trim().split('\n').slice(1, -1);
    expect(lines.map((l) => l.replace(/^\S+ 127\.0\.0\.1 GET /, '').replace(/ [\d.]+ms$/, ''))).toEqual([
      '<unrouted path, 38 bytes> 404',
      '<unrouted path, 38 bytes> 404',
      '<unrouted path, 39 bytes> 404',
      '<unrouted path, 37 bytes> 404',
      '<unrouted path, 45 bytes> 404',
      // A ping URL with the key in the slug's place (as written, and percent-encoded): the slug is shown, the backstop hides the key.
      '/ping/…/… 404',
      '/ping/…/… 404',
    ]);
    expect(s.stdout() + s.stderr()).not.toContain(PING_KEY);
  }, 30_000);

  it('drops request lines while stdout is not being read (over 1 MiB waiting), and counts them in the summary', async () => {
    const s = await startServe(configFor(), { args: ['-v'] });
    s.child.stdout!.pause();
    const slug = 's'.repeat(190);
    const n = 8000;
    const c = await rawConnection(s.url);
    c.socket.write(`GET /ping/wrong-key-0000000000/${slug} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(n));
    await until(() => (c.received().match(/HTTP\/1\.1 404/g) ?? []).length === n);
    s.child.kill('SIGTERM');
    s.child.stdout!.resume();
    expect((await s.exited).code).toBe(0);
    const printed = s.stdout().split('\n').filter((l) => l.includes(` GET /ping/…/${slug} 404 `)).length;
    const summary = /medic serve: stopped; 0 beats in 0 commits; (\d+) request lines not printed \(stdout was not being read\)\n$/.exec(s.stdout());
    expect(summary, s.stdout().slice(-300)).not.toBeNull();
    const dropped = Number(summary![1]);
    expect(printed + dropped).toBe(n);
    // At most 1 MiB waiting in the process, plus what the pipe holds: about 4,500 lines of 250 bytes.
    expect(printed).toBeLessThan(6000);
  }, 60_000);
});

describe('medic serve: key files are read as secrets (exit 78)', () => {
  it.each([
    ['readable by other users (0644)', (dir: string) => chmodSync(join(dir, 'ping.key'), 0o644), /\(serve\.pingKeyFile\) is not safe to read a ping key from: every user on this machine can read it \(mode 644\)/],
    ['readable by a group other than the user\'s own (0640)', (dir: string) => (chmodSync(join(dir, 'ping.key'), 0o640), chownSync(join(dir, 'ping.key'), process.getuid!(), STRANGER)), /is not safe to read a ping key from: its group can read it \(mode 640\)/],
    ['in a folder other users can write', (dir: string) => chmodSync(dir, 0o777), /is not safe to read a ping key from: its folder .* is not safe \(every user on this machine can write it\)/],
  ])('refuses a pingKeyFile %s', async (_, spoil, message) => {
    const dir = serveDir();
    writeFileSync(join(dir, 'ping.key'), `${PING_KEY}\n`, { mode: 0o600 });
    spoil(dir);
    const err = await refusal(configFor({ pingKeyFile: 'ping.key' }), { dir, env: { MEDIC_PING_KEY: undefined } });
    expect(err).toMatch(/exited 78 before listening/);
    expect(err).toMatch(message);
    expect(err).not.toContain(PING_KEY);
  }, 30_000);

  it("refuses a pingKeyFile reached through another user's link (to a file that passes every other check)", async () => {
    const dir = serveDir();
    writeFileSync(join(dir, 'real.key'), `${PING_KEY}\n`, { mode: 0o600 });
    symlinkSync(join(dir, 'real.key'), join(dir, 'ping.key'));
    lchownSync(join(dir, 'ping.key'), STRANGER, STRANGER);
    const err = await refusal(configFor({ pingKeyFile: 'ping.key' }), { dir, env: { MEDIC_PING_KEY: undefined } });
    expect(err).toMatch(/exited 78 before listening/);
    expect(err).toContain(`refusing serve.pingKeyFile ${join(dir, 'ping.key')}: it is reached through the link ${join(dir, 'ping.key')}, owned by uid ${STRANGER}`);
  }, 30_000);

  it('refuses a TLS private key other users can read', async () => {
    const dir = serveDir();
    await makeTlsPair(dir);
    chmodSync(join(dir, 'key.pem'), 0o644);
    const err = await refusal(configFor({ tls: { cert: 'cert.pem', key: 'key.pem' } }), { dir });
    expect(err).toMatch(/exited 78 before listening/);
    expect(err).toMatch(/the TLS private key file .*key\.pem \(serve\.tls\.key\) is not safe to read a private key from: every user on this machine can read it \(mode 644\)/);
  }, 30_000);

  it('says the TLS files are wrong (not serve.listen) when the certificate is given as the key, or the key is not the certificate\'s', async () => {
    const dir = serveDir();
    await makeTlsPair(dir);
    copyFileSync(join(dir, 'cert.pem'), join(dir, 'cert-as-key.pem'));
    chmodSync(join(dir, 'cert-as-key.pem'), 0o600);
    const asKey = await refusal(configFor({ tls: { cert: 'cert.pem', key: 'cert-as-key.pem' } }), { dir });
    expect(asKey).toMatch(/exited 78 before listening/);
    expect(asKey).toMatch(/the TLS private key file .*cert-as-key\.pem \(serve\.tls\.key\) holds a certificate, not a private key\n.*give serve\.tls\.cert a PEM certificate and serve\.tls\.key the PEM private key that belongs to it/);
    expect(asKey).not.toMatch(/serve\.listen/);
    const other = serveDir();
    await makeTlsPair(other);
    copyFileSync(join(other, 'key.pem'), join(dir, 'other-key.pem'));
    chmodSync(join(dir, 'other-key.pem'), 0o600);
    const mismatch = await refusal(configFor({ tls: { cert: 'cert.pem', key: 'other-key.pem' } }), { dir });
    expect(mismatch).toMatch(/the TLS private key in .*other-key\.pem \(serve\.tls\.key\) does not belong to the certificate in .*cert\.pem \(serve\.tls\.cert\)/);
  }, 30_000);
});

describe('medic serve with serve.tls: connections that never finish a handshake', () => {
  it('are closed after serve.headersTimeout, and do not hold a stop', async () => {
    const dir = serveDir();
    await makeTlsPair(dir);
    const s = await startServe(configFor({ tls: { cert: 'cert.pem', key: 'key.pem' }, headersTimeout: '1s', requestTimeout: '2s' }), { dir });
    const idle = await rawConnection(s.url);
    expect(await idle.closed).toBeLessThan(3000);
    // One that stays silent while the server stops: the stop ends it (here at the handshake timeout, at the latest at the 10 s drain deadline).
    const held = await rawConnection(s.url);
    s.child.kill('SIGTERM');
    const t0 = Date.now();
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(3000);
    await held.closed;
    expect(s.stderr()).toBe('');
  }, 30_000);

  it('a TLS client still gets its beat through', async () => {
    const dir = serveDir();
    const { cert } = await makeTlsPair(dir);
    const s = await startServe(configFor({ tls: { cert: 'cert.pem', key: 'key.pem' } }), { dir });
    const u = new URL(s.url);
    const { readFileSync } = await import('node:fs');
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: u.hostname, port: Number(u.port), ca: readFileSync(cert) }, () => socket.write(`GET /ping/${PING_KEY}/backup HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let got = '';
      socket.setEncoding('utf8').on('data', (d: string) => (got += d));
      socket.on('end', () => resolve(got));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK[^]*\r\n\r\nOK$/);
  }, 30_000);
});

describe('medic serve: refusals and warnings at start and on SIGHUP', () => {
  it.each([
    [
      'the routing key of a target',
      { targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'PD_KEY' } } },
      { MEDIC_PING_KEY: ROUTING_KEY, PD_KEY: ROUTING_KEY, PAGERDUTY_ROUTING_KEY: undefined },
      'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is the routing key of target "oncall" (environment variable PD_KEY): the ping key travels in URLs and in the logs of proxies, where a routing key must never be',
    ],
    [
      'a routing key in another variable',
      {},
      { MEDIC_PING_KEY: ROUTING_KEY, PAGERDUTY_ROUTING_KEY: undefined, OLD_PD_KEY: ROUTING_KEY },
      'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is also in the environment variable OLD_PD_KEY, shaped like a PagerDuty routing key',
    ],
  ])('refuses a ping key that is %s (exit 78)', async (_, extra, env, message) => {
    const err = await refusal({ ...configFor(), ...extra }, { env });
    expect(err).toMatch(/exited 78 before listening/);
    expect(err).toContain(message);
    expect(err).not.toContain(ROUTING_KEY);
  }, 30_000);

  it('says on SIGHUP that a changed database needs a restart, and until then acknowledges no beat (503) and /healthz says why', async () => {
    const s = await startServe(configFor());
    expect((await fetch(`${s.base}/backup`)).status).toBe(200);
    s.writeConfig({ ...configFor(), database: 'other.db' });
    s.child.kill('SIGHUP');
    await until(() => s.stderr() !== '');
    expect(s.stderr()).toBe('medic serve: database changed in the config: restart medic serve to apply it (until then beats, /healthz, /status and /metrics answer 503)\n');
    const beat = await fetch(`${s.base}/backup`);
    expect([beat.status, beat.headers.get('retry-after'), await beat.text()]).toEqual([503, '5', 'database changed in the config: restart medic serve (it keeps the database it opened at start)']);
    const health = await fetch(`${s.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([503, 'database changed in the config: restart medic serve (it keeps the database it opened at start)']);
  }, 30_000);

  it('warns nothing when it listens on loopback without TLS', async () => {
    const s = await startServe(configFor());
    await fetch(`${s.base}/backup`);
    s.child.kill('SIGTERM');
    await s.exited;
    expect(s.stderr()).toBe('');
  }, 30_000);
});
