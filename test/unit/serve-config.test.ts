/**
 * The `serve` section of the config (src/config.ts, medic.schema.json) and the ping key
 * (src/serve/key.ts): defaults, the listen address, refusals worded for a human, the key's checks.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildConfig, buildConfigLenient, type BuildOptions } from '../../src/config.js';
import { ConfigError, EXIT } from '../../src/errors.js';
import { keyMatches, readPingKey } from '../../src/serve/key.js';
import { headUtf8 } from '../../src/serve/server.js';

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
  it('defaults: 127.0.0.1:8080, MEDIC_PING_KEY, 10,000 bytes, plain HTTP, 10s/30s, 1000 connections', () => {
    expect(buildConfig({ services: [{ slug: 'backup' }] }, FILE, OPTS).serve).toEqual({
      host: '127.0.0.1',
      port: 8080,
      pingKeyEnv: 'MEDIC_PING_KEY',
      pingKeyFile: null,
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
    ['abcdefghijklmno', 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is too short (15 characters): it must be 16 or more of A-Z a-z 0-9 _ -'],
    ['abcdefghijklmnop+', 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is not 16 to 256 of A-Z a-z 0-9 _ - (it is 17 characters, or holds other characters)'],
    ['a'.repeat(257), 'the ping key in the environment variable MEDIC_PING_KEY (serve.pingKeyEnv) is not 16 to 256 of A-Z a-z 0-9 _ - (it is 257 characters, or holds other characters)'],
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
