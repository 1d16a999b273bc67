/**
 * The `serve` section of the config (src/config.ts, medic.schema.json) and the ping key
 * (src/serve/key.ts): defaults, the listen address, refusals worded for a human, the key's checks.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConfig, buildConfigLenient, type BuildOptions } from '../../src/config.js';
import { ConfigError, EXIT } from '../../src/errors.js';
import { checkPingKeyIsOwn, checkViewKeyIsOwn, keyMatches, readPingKey, readTls } from '../../src/serve/key.js';
import { clearTextWarning, headUtf8, keptBody } from '../../src/serve/server.js';

const FILE = '/srv/app/medic.config.json';
const OPTS: BuildOptions = { env: {}, cwd: '/home/ops', machineZone: 'UTC' };
const withServe = (serve: unknown) => ({ services: [{ slug: 'backup' }], serve });

function problemsOf(raw: unknown): string[] {
  try {
    buildConfig(raw, FILE, OPTS);
    return [];
  } catch (err) {
    expect((err as ConfigError).exitCode).toBe(EXIT.config);
    return (err as ConfigError).message.split('\n').slice(1).map((l) => l.replace(`  ${FILE}: `, ''));
  }
}

describe('serve settings', () => {
  it('defaults: 127.0.0.1:8080, MEDIC_PING_KEY, no view key, 10,000 bytes, plain HTTP, 10s/30s, 1000 connections', () => {
    expect(buildConfig({ services: [{ slug: 'backup' }] }, FILE, OPTS).serve).toEqual({
      configured: false,
      host: '127.0.0.1',
      port: 8080,
      pingKeyEnv: 'MEDIC_PING_KEY',
      pingKeyFile: null,
      viewKeyEnv: null,
      bodyLimit: 10_000,
      tls: null,
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      maxConnections: 1000,
    });
  });

  it.each([
    ['0.0.0.0:443', '0.0.0.0', 443],
    ['[::1]:8080', '::1', 8080],
    ['localhost:0', 'localhost', 0],
  ])('listen %s → host %s, port %i', (listen, host, port) => {
    expect(buildConfig(withServe({ listen }), FILE, OPTS).serve).toMatchObject({ host, port });
  });

  it('says whether the config has a serve section (doctor checks the ping key only then)', () => {
    expect(buildConfig(withServe({}), FILE, OPTS).serve.configured).toBe(true);
  });

  it('resolves pingKeyFile and the TLS files against the config folder', () => {
    const s = buildConfig(withServe({ pingKeyFile: 'secrets/ping', tls: { cert: '/etc/ssl/medic.pem', key: 'tls/key.pem' }, bodyLimit: 0 }), FILE, OPTS).serve;
    expect(s).toMatchObject({ pingKeyEnv: null, pingKeyFile: '/srv/app/secrets/ping', tls: { cert: '/etc/ssl/medic.pem', key: '/srv/app/tls/key.pem' }, bodyLimit: 0 });
  });

  it.each([
    [{ listen: '8080' }, 'serve.listen: expected host:port like "127.0.0.1:8080" or "[::1]:8080", got "8080"'],
    [{ listen: '127.0.0.1:70000' }, 'serve.listen: expected a port from 0 to 65535, got "127.0.0.1:70000"'],
    [{ pingKeyEnv: 'A', pingKeyFile: 'b' }, 'serve: expected "pingKeyEnv" or "pingKeyFile", not both'],
    [{ pingKey: 'abcdefghijklmnop1234' }, 'serve.pingKey: a ping key must not be written in the config file (it would end up in backups and git); put it in an environment variable named by "pingKeyEnv" (default MEDIC_PING_KEY) or in a file named by "pingKeyFile"'],
    [{ bodyLimit: 100_000 }, 'serve.bodyLimit: expected an integer from 0 to 65536, got 100000'],
    [{ tls: { cert: 'c.pem' } }, 'serve.tls: missing required key "key"'],
    [{ headersTimeout: '20s', requestTimeout: '10s' }, 'serve.requestTimeout: expected at least serve.headersTimeout (the headers are part of the request), got "10s"'],
    [{ headersTimeout: '100ms' }, 'serve.headersTimeout: expected a duration from 1s to 10m, got "100ms"'],
    [{ maxConnections: 0 }, 'serve.maxConnections: expected an integer from 1 to 100000, got 0'],
    [{ lisen: '1.2.3.4:5' }, 'serve: unknown key "lisen" (did you mean "listen"?)'],
  ])('refuses %o', (serve, problem) => {
    expect(problemsOf(withServe(serve))).toEqual([problem]);
  });

  it('never echoes a ping key pasted into the config', () => {
    expect(problemsOf(withServe({ pingKey: 'abcdefghijklmnop1234' })).join('\n')).not.toContain('abcdefghijklmnop1234');
  });

  it('a broken serve section does not keep status from showing the services (lenient load)', () => {
    const { config, problems } = buildConfigLenient(withServe({ listen: 'nope' }), FILE, OPTS);
    expect(config.services.map((s) => s.slug)).toEqual(['backup']);
    expect(problems?.message).toContain('serve.listen');
  });
});

describe('readPingKey', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medic-ping-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const uid = process.getuid!();
  const env = (v?: string) => ({ pingKeyEnv: 'MEDIC_PING_KEY', pingKeyFile: null, value: v });

  it.each([
    ['set', 'abcdefghijklmnop', 'abcdefghijklmnop'],
    ['set with spaces around', '  abc_def-ghi_jkl-mno \n', 'abc_def-ghi_jkl-mno'],
  ])('takes a key from the environment (%s)', (_, value, key) => {
    const s = env(value);
    expect(readPingKey(s, { MEDIC_PING_KEY: s.value }, uid)).toBe(key);
  });

  it.each([
    [undefined, 'medic serve needs a ping key: the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is not set'],
    ['   ', 'medic serve needs a ping key: the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is empty'],
    ['abcdefghijklmno', 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is too short (15 characters): it must be 16 to 256 of A-Z a-z 0-9 _ -'],
    ['abcdefghijklmnop+', 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) holds a character other than A-Z a-z 0-9 _ - (a space, a quote, a newline?): it must be 16 to 256 of them'],
    ['a'.repeat(257), 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is too long (257 characters): it must be 16 to 256 of A-Z a-z 0-9 _ -'],
  ])('refuses %j with exit 78 and a message without the key', (value, message) => {
    let err: unknown;
    try {
      readPingKey(env(), { MEDIC_PING_KEY: value }, uid);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(message);
    expect((err as ConfigError).hint).toMatch(/openssl rand/);
  });

  it('reads a key file, and refuses one others can write or that is missing', () => {
    const file = join(dir, 'key');
    writeFileSync(file, 'from-a-file-0123456789\n', { mode: 0o600 });
    const s = { pingKeyEnv: null, pingKeyFile: file };
    expect(readPingKey(s, {}, uid)).toBe('from-a-file-0123456789');
    chmodSync(file, 0o666);
    expect(() => readPingKey(s, {}, uid)).toThrow(`the ping key file ${file} (serve.pingKeyFile) is not safe to read a ping key from: every user on this machine can write it`);
    expect(() => readPingKey({ pingKeyEnv: null, pingKeyFile: join(dir, 'missing') }, {}, uid)).toThrow(/cannot read the ping key file .*missing \(serve.pingKeyFile\): ENOENT/);
  });
});

describe('keyMatches', () => {
  it.each([
    ['abcdefghijklmnop', 'abcdefghijklmnop', true],
    ['abcdefghijklmnoq', 'abcdefghijklmnop', false],
    ['abcdefghijklmno', 'abcdefghijklmnop', false],
    ['', 'abcdefghijklmnop', false],
    ['abcdefghijklmnopq', 'abcdefghijklmnop', false],
  ])('%s against %s → %s', (given, key, match) => {
    expect(keyMatches(given, key)).toBe(match);
  });
});

describe('headUtf8', () => {
  it.each([
    ['abc', 10, 'abc'],
    ['abcdef', 3, 'abc'],
    ['aé', 2, 'a'], // é is 2 bytes: cut inside it, dropped whole
    ['aé', 3, 'aé'],
    ['€€', 4, '€'],
    ['', 0, ''],
  ])('%j cut to %i bytes → %j', (text, max, expected) => {
    expect(headUtf8(Buffer.from(text), max)).toBe(expected);
  });

  it('turns invalid bytes into U+FFFD', () => {
    expect(headUtf8(Buffer.from([0x61, 0xff, 0x62]), 10)).toBe('a\ufffdb');
  });
});

describe('readPingKey: a key file is read as a secret', () => {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const STRANGER = uid === 4242 ? 4243 : 4242;
  let root = '';
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  /** A fresh 0700 folder holding `key` (mode 600, the user's). */
  const keyFile = () => {
    root = mkdtempSync(join(tmpdir(), 'medic-ping-secret-'));
    dirs.push(root);
    const file = join(root, 'key');
    writeFileSync(file, 'from-a-file-0123456789\n', { mode: 0o600 });
    return file;
  };
  const where = (file: string) => `the ping key file ${file} (serve.pingKeyFile)`;

  it.each<[string, (file: string) => string, (file: string) => string]>([
    ['every user can read it', (f) => (chmodSync(f, 0o644), f), (f) => `${where(f)} is not safe to read a ping key from: every user on this machine can read it (mode 644)`],
    ['another group can read it', (f) => (chmodSync(f, 0o640), chownSync(f, uid, STRANGER), f), (f) => `${where(f)} is not safe to read a ping key from: its group can read it (mode 640)`],
    ['another user owns it', (f) => (chownSync(f, STRANGER, STRANGER), f), (f) => `${where(f)} is not safe to read a ping key from: it is owned by uid ${STRANGER}, neither the user running medic (uid ${uid}) nor root`],
    ['its folder is writable by every user', (f) => (chmodSync(root, 0o777), f), (f) => `${where(f)} is not safe to read a ping key from: its folder ${root} is not safe (every user on this machine can write it), so someone else could put another file in its place`],
    ['its folder is writable by every user, even sticky', (f) => (chmodSync(root, 0o1777), f), (f) => `${where(f)} is not safe to read a ping key from: its folder ${root} is not safe (every user on this machine can write it), so someone else could put another file in its place`],
    [
      "it is reached through another user's link",
      (f) => {
        const link = join(root, 'link');
        symlinkSync(f, link);
        lchownSync(link, STRANGER, STRANGER);
        return link;
      },
      () => `refusing serve.pingKeyFile ${join(root, 'link')}: it is reached through the link ${join(root, 'link')}, owned by uid ${STRANGER}, neither the user running medic (uid ${uid}) nor root, so someone else could choose the file Medic reads`,
    ],
    ['it is a folder', () => (mkdirSync(join(root, 'sub')), join(root, 'sub')), (f) => `${where(f)} is not a regular file`],
    ['it is too big', (f) => (writeFileSync(f, 'k'.repeat(2000)), f), (f) => `${where(f)} is larger than 1024 bytes: not a ping key`],
  ])('refuses it (78) when %s, never showing the key', (_, spoil, message) => {
    const path = spoil(keyFile());
    let err: unknown;
    try {
      readPingKey({ pingKeyEnv: null, pingKeyFile: path }, {}, uid, gid);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(EXIT.config);
    expect((err as ConfigError).message).toBe(message(path));
    expect(`${(err as ConfigError).message} ${(err as ConfigError).hint}`).not.toContain('from-a-file');
  });

  it.each([
    ['mode 600', (f: string) => chmodSync(f, 0o600)],
    ['mode 400', (f: string) => chmodSync(f, 0o400)],
    ["mode 640, the group the user's own primary group", (f: string) => (chmodSync(f, 0o640), chownSync(f, uid, gid))],
    ['through a link of the user', (f: string) => symlinkSync(f, join(root, 'own-link'))],
  ])('reads it with %s', (what, fix) => {
    const file = keyFile();
    fix(file);
    const path = what.startsWith('through') ? join(root, 'own-link') : file;
    expect(readPingKey({ pingKeyEnv: null, pingKeyFile: path }, {}, uid, gid)).toBe('from-a-file-0123456789');
  });
});

describe('checkPingKeyIsOwn: a routing key is never a ping key', () => {
  const ROUTING = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
  const config = (targets: Record<string, unknown>, serve: Record<string, unknown> = {}) =>
    buildConfig({ targets, services: [{ slug: 'backup' }], serve }, FILE, OPTS);
  const target = { oncall: { type: 'pagerduty', routingKeyEnv: 'PD_KEY' } };

  it.each<[string, ReturnType<typeof config>, NodeJS.ProcessEnv, string | null]>([
    ['its own key', config(target), { PD_KEY: ROUTING, MEDIC_PING_KEY: 'ping-key-of-its-own-0123' }, null],
    ['a 32-character ping key no routing key shares', config(target), { PD_KEY: ROUTING, MEDIC_PING_KEY: 'Z'.repeat(32) }, null],
    ['a target’s routing key', config(target), { PD_KEY: ROUTING, MEDIC_PING_KEY: ROUTING }, 'is the routing key of target "oncall" (environment variable PD_KEY)'],
    ['pingKeyEnv naming the routing key’s variable', config(target, { pingKeyEnv: 'PD_KEY' }), { PD_KEY: ROUTING }, 'the ping key in the environment variable PD_KEY (serve.pingKeyEnv) is the routing key of target "oncall"'],
    ['a routing key in another variable', config(target), { OLD_KEY: ROUTING, MEDIC_PING_KEY: ROUTING }, 'is also in the environment variable OLD_KEY, shaped like a PagerDuty routing key'],
    // readViewKey says "the view key is the ping key" for that one; not a routing key.
    ['a 32-character ping key also in serve.viewKeyEnv’s variable', config(target, { viewKeyEnv: 'MEDIC_VIEW_KEY' }), { PD_KEY: ROUTING, MEDIC_PING_KEY: 'Z'.repeat(32), MEDIC_VIEW_KEY: 'Z'.repeat(32) }, null],
  ])('%s', (_, cfg, env, refused) => {
    const key = env[cfg.serve.pingKeyEnv!]!;
    if (refused === null) {
      expect(() => checkPingKeyIsOwn(key, cfg, env)).not.toThrow();
      return;
    }
    let err: unknown;
    try {
      checkPingKeyIsOwn(key, cfg, env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(refused);
    expect((err as ConfigError).message).not.toContain(ROUTING);
  });

  it.each<[string, NodeJS.ProcessEnv, string | null]>([
    ['a view key of its own', { PD_KEY: ROUTING, MEDIC_VIEW_KEY: 'view-key-of-its-own-0123' }, null],
    ['a target’s routing key as the view key', { PD_KEY: ROUTING, MEDIC_VIEW_KEY: ROUTING }, 'the view key in the environment variable MEDIC_VIEW_KEY (serve.viewKeyEnv) is the routing key of target "oncall" (environment variable PD_KEY)'],
    ['a routing key in another variable as the view key', { OLD_KEY: ROUTING, MEDIC_VIEW_KEY: ROUTING }, 'is also in the environment variable OLD_KEY, shaped like a PagerDuty routing key'],
  ])('checkViewKeyIsOwn: %s', (_, env, refused) => {
    const cfg = config(target, { viewKeyEnv: 'MEDIC_VIEW_KEY' });
    const check = () => checkViewKeyIsOwn(env.MEDIC_VIEW_KEY!, cfg, env);
    if (refused === null) return expect(check).not.toThrow();
    expect(check).toThrow(ConfigError);
    expect(check).toThrow(refused);
    expect(check).not.toThrow(ROUTING);
  });

  it('compares with a target key file too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'medic-ping-own-'));
    try {
      writeFileSync(join(dir, 'pd.key'), `${ROUTING}\n`, { mode: 0o600 });
      const cfg = buildConfig({ targets: { oncall: { type: 'pagerduty', routingKeyFile: 'pd.key' } }, services: [{ slug: 'backup' }] }, join(dir, 'medic.config.json'), OPTS);
      expect(() => checkPingKeyIsOwn(ROUTING, cfg, {})).toThrow(`is the routing key of target "oncall" (file ${join(dir, 'pd.key')})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('keptBody: the ping key is never kept (a job\'s output often holds the ping URL)', () => {
  const PING = 'PKsecretPKsecret0123456789abcd';
  it.each([
    ['in the middle', `+ curl http://127.0.0.1/ping/${PING}/backup/start ; error`, 1000, '+ curl http://127.0.0.1/ping/<ping-key>/backup/start ; error'],
    ['in another letter case', `url ${PING.toUpperCase()} x`, 1000, 'url <ping-key> x'],
    ['across the limit', `${'A'.repeat(20)}${PING}tail`, 30, `${'A'.repeat(20)}<ping-key>`],
  ])('%s', (_label, body, limit, kept) => {
    expect(keptBody(Buffer.from(body), limit, [], [PING])).toBe(kept);
  });
});

describe('keptBody: routing keys hidden before the cut to serve.bodyLimit', () => {
  const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
  it.each([
    ['a key inside the limit', `run ${KEY} ok`, 100, 'run a1b2…o5p6 ok'],
    ['a key across the limit', `${'x'.repeat(30)}${KEY}`, 40, `${'x'.repeat(30)}a1b2…o5p`],
    ['a key starting one byte before the limit', `${'x'.repeat(39)}${KEY}`, 40, `${'x'.repeat(39)}a`],
    ['a key past the limit', `${'x'.repeat(40)}${KEY}`, 40, 'x'.repeat(40)],
    ['a key upper-cased', `${'x'.repeat(30)}${KEY.toUpperCase()}`, 40, `${'x'.repeat(30)}A1B2…O5P`],
    ['a limit of 0', KEY, 0, ''],
  ])('%s', (_, body, limit, kept) => {
    expect(keptBody(Buffer.from(body), limit, [KEY])).toBe(kept);
    expect(keptBody(Buffer.from(body), limit, [KEY]).toLowerCase()).not.toContain(KEY.slice(0, 6));
  });
});

describe('clearTextWarning', () => {
  const tls = { cert: '/c.pem', key: '/k.pem' };
  it.each([
    ['127.0.0.1', null, false],
    ['127.8.9.10', null, false],
    ['::1', null, false],
    ['0:0:0:0:0:0:0:1', null, false],
    ['::ffff:127.0.0.1', null, false],
    ['localhost', null, false],
    ['0.0.0.0', null, true],
    ['::', null, true],
    ['10.0.0.5', null, true],
    ['medic.internal', null, true],
    ['0.0.0.0', tls, false],
  ])('listen %s, tls %o → warns: %s', (host, t, warns) => {
    const said = clearTextWarning({ host, port: 8080, tls: t });
    expect(said !== null).toBe(warns);
    if (warns) expect(said).toMatch(/^serve\.listen is \S+:8080, not a loopback address, and serve\.tls is not set: the ping key travels in clear text in every ping URL \(and the view key, if set, in every request for \/status and \/metrics\) unless a TLS proxy is in front/);
  });
});

describe('readTls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medic-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const uid = process.getuid!();
  const pair = (name: string) => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    chmodSync(join(dir, `${name}.key`), 0o600);
  };
  pair('a');
  pair('b');
  copyFileSync(join(dir, 'a.crt'), join(dir, 'crt-as.key'));
  chmodSync(join(dir, 'crt-as.key'), 0o600);
  writeFileSync(join(dir, 'junk'), 'not PEM', { mode: 0o600 });

  it('reads a certificate and its key', () => {
    const got = readTls({ tls: { cert: join(dir, 'a.crt'), key: join(dir, 'a.key') } }, uid, undefined);
    expect(got?.cert.toString()).toMatch(/BEGIN CERTIFICATE/);
  });

  it.each([
    ['a certificate given as the key', 'a.crt', 'crt-as.key', /serve\.tls\.key\) holds a certificate, not a private key$/],
    ['a key that is not the certificate’s', 'a.crt', 'b.key', /^the TLS private key in .*b\.key \(serve\.tls\.key\) does not belong to the certificate in .*a\.crt \(serve\.tls\.cert\)$/],
    ['no PEM as the key', 'a.crt', 'junk', /serve\.tls\.key\) holds no PEM private key$/],
    ['no PEM as the certificate', 'junk', 'a.key', /serve\.tls\.cert\) holds no PEM certificate$/],
    ['a missing certificate', 'missing.crt', 'a.key', /^cannot read the TLS certificate file .*missing\.crt \(serve\.tls\.cert\): ENOENT$/],
  ])('refuses %s (78), naming serve.tls', (_, cert, key, message) => {
    let err: unknown;
    try {
      readTls({ tls: { cert: join(dir, cert), key: join(dir, key) } }, uid, undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(message);
    expect((err as ConfigError).hint).toBe('give serve.tls.cert a PEM certificate and serve.tls.key the PEM private key that belongs to it (mode 600)');
  });
});
