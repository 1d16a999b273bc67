/**
 * The password file and routing key files are read only when nobody else could have chosen or read
 * them: every link on the way the user's or root's (as for the config), and the password file
 * private (mode 600). Real files, real links, owners changed with chown (the tests run as root).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Target } from '../../src/config.js';
import { isMedicError } from '../../src/errors.js';
import { readTargetKey, secretShapeProblem } from '../../src/notify/keys.js';
import { databaseUrlProblem, readPasswordFile, sslFromUrl } from '../../src/store/postgres-url.js';
import { GUIDE_EXAMPLE_KEY } from '../fixtures/pagerduty.js';
import { tempDir } from '../helpers/db.js';

const uid = process.geteuid!();
const OTHER = 65534;

function secret(content: string, mode = 0o600): string {
  const file = join(tempDir(), 'secret');
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

/** A link to `target`, owned (the link itself) by `owner`. */
function link(target: string, owner: number): string {
  const at = join(tempDir(), 'link');
  symlinkSync(target, at);
  lchownSync(at, owner, owner);
  return at;
}

function thrown(f: () => unknown): { exitCode: number; message: string; hint?: string } {
  try {
    f();
  } catch (err) {
    expect(isMedicError(err), String(err)).toBe(true);
    return err as { exitCode: number; message: string; hint?: string };
  }
  throw new Error('expected a refusal');
}

describe('passwordFile', () => {
  it.each([
    ['600', null],
    ['400', null],
    ['640', 'its group or other users can read or write it (mode 640)'],
    ['604', 'its group or other users can read or write it (mode 604)'],
    ['610', 'its group or other users can read or write it (mode 610)'],
  ])('a password file of mode %s: %s', (mode, problem) => {
    const file = secret('pw-0123\n', parseInt(mode, 8));
    if (problem === null) {
      expect(readPasswordFile(file, uid)).toBe('pw-0123');
    } else {
      const err = thrown(() => readPasswordFile(file, uid));
      expect(err.exitCode).toBe(78);
      expect(err.message).toBe(`refusing passwordFile ${file}: ${problem}`);
      expect(err.hint).toContain(`chmod 600 ${file}`);
      expect(`${err.message} ${err.hint}`).not.toContain('pw-0123');
    }
  });

  it('a link owned by another user is refused (78), naming the link, even to a private file of the user', () => {
    const file = secret('pw-0123\n');
    const planted = link(file, OTHER);
    const err = thrown(() => readPasswordFile(planted, uid));
    expect(err.exitCode).toBe(78);
    expect(err.message).toContain(`refusing passwordFile ${planted}: it is reached through the link ${planted}, owned by uid ${OTHER}`);
    expect(err.message).not.toContain('pw-0123');
  });

  it("a link the user owns to a private file is followed", () => {
    expect(readPasswordFile(link(secret('pw-0123\n'), uid), uid)).toBe('pw-0123');
  });

  it("a link to a root-owned group-readable file (like /etc/shadow, 0640) is refused: nothing of it is read", () => {
    const shadow = secret('root:$6$hash:1:0:99999:7:::\n', 0o640);
    const err = thrown(() => readPasswordFile(link(shadow, uid), uid));
    expect(err.message).toContain('its group or other users can read or write it (mode 640)');
    expect(err.message).not.toContain('$6$hash');
  });
});

describe('routingKeyFile', () => {
  const target = (file: string): Target => ({ name: 'pd', type: 'pagerduty', priorities: null, routingKeyEnv: null, routingKeyFile: file, eventsUrl: 'https://events.example.test/v2/enqueue', severity: null, timeoutMs: 1000 });

  it('a key file reached through a link owned by another user is a bad key source, never read', () => {
    const planted = link(secret(`${GUIDE_EXAMPLE_KEY}\n`), OTHER);
    const read = readTargetKey(target(planted), {}, uid);
    expect(read).toMatchObject({ kind: 'bad' });
    expect((read as { message: string }).message).toContain(`refusing file ${planted}: it is reached through the link ${planted}, owned by uid ${OTHER}`);
    expect(JSON.stringify(read)).not.toContain(GUIDE_EXAMPLE_KEY);
  });

  it('a link the user owns is followed', () => {
    expect(readTargetKey(target(link(secret(`${GUIDE_EXAMPLE_KEY}\n`), uid)), {}, uid)).toEqual({ key: GUIDE_EXAMPLE_KEY });
  });
});

describe('certificate files named in the database URL (sslrootcert, sslcert, sslkey) are read by Medic, with care', () => {
  const PEM = '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n';
  const base = 'postgres://medic@db.example.test:5432/medic';

  it('each file becomes pg\'s ssl option and leaves the URL, so pg reads nothing itself', () => {
    const ca = secret(PEM, 0o644);
    const cert = secret(PEM.replace('fake', 'client'), 0o644);
    const key = secret('-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n');
    const out = sslFromUrl(`${base}?sslrootcert=${ca}&sslcert=${cert}&sslkey=${key}&application_name=x`, uid);
    expect(out.url).toBe(`${base}?application_name=x`);
    expect(out.ssl).toEqual({ ca: PEM, cert: PEM.replace('fake', 'client'), key: '-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n' });
  });

  it('a URL without certificate files is left to pg as it is', () => {
    expect(sslFromUrl(`${base}?sslmode=verify-full`, uid)).toEqual({ url: `${base}?sslmode=verify-full` });
  });

  it.each<[string, Record<string, unknown> | false]>([
    ['', {}],
    ['&sslmode=verify-full', {}],
    ['&sslmode=require', {}],
    ['&sslmode=no-verify', { rejectUnauthorized: false }],
    ['&sslmode=disable', false],
    ['&sslmode=require&uselibpqcompat=true', { checkServerIdentity: expect.any(Function) }],
    ['&sslmode=verify-ca&uselibpqcompat=true', { checkServerIdentity: expect.any(Function) }],
    ['&sslmode=prefer&uselibpqcompat=true', { rejectUnauthorized: false }],
    ['&sslmode=verify-full&uselibpqcompat=true', {}],
  ])('sslmode as pg reads it: %s', (query, extra) => {
    const ca = secret(PEM, 0o644);
    const out = sslFromUrl(`${base}?sslrootcert=${ca}${query}`, uid);
    expect(out.url).toBe(base);
    expect(out.ssl).toEqual(extra === false ? false : { ca: PEM, ...extra });
  });

  const fifo = () => {
    const at = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [at]);
    return at;
  };
  const big = () => {
    const file = secret('', 0o644);
    truncateSync(file, 1024 * 1024 + 1);
    return file;
  };
  it.each<[string, string, () => string, string]>([
    ['a FIFO (it would hang the run)', 'sslrootcert', fifo, 'it is not a regular file (a pipe, a device or a socket)'],
    ['a device (/dev/zero would eat the memory)', 'sslcert', () => '/dev/zero', 'it is not a regular file (a pipe, a device or a socket)'],
    ['larger than 1 MiB', 'sslrootcert', big, `it is ${1024 * 1024 + 1} bytes, more than ${1024 * 1024} (1 MiB)`],
    ['a key the group can read', 'sslkey', () => secret('k\n', 0o640), 'its group or other users can read or write it (mode 640)'],
    ['owned by another user', 'sslcert', () => {
      const f = secret(PEM, 0o644);
      chownSync(f, OTHER, OTHER);
      return f;
    }, `it is owned by uid ${OTHER}`],
    ['reached through a link owned by another user', 'sslrootcert', () => link(secret(PEM, 0o644), OTHER), 'it is reached through the link'],
  ])('%s is refused (78), naming the option and the file', (_label, name, make, words) => {
    const file = make();
    const err = thrown(() => sslFromUrl(`${base}?${name}=${file}`, uid));
    expect(err.exitCode).toBe(78);
    expect(err.message).toContain(`refusing ${name} ${file} (in the database URL): ${words}`);
  });

  it('a missing file is a config error naming it', () => {
    const err = thrown(() => sslFromUrl(`${base}?sslkey=/nonexistent/medic-key.pem`, uid));
    expect(err.exitCode).toBe(78);
    expect(err.message).toBe('cannot read sslkey /nonexistent/medic-key.pem (in the database URL): ENOENT');
  });

  it.each([
    ['?sslpassword=x', 'a password in the database URL (?sslpassword=) is refused'],
    ['?SSLPassword=x', 'a password in the database URL (?sslpassword=) is refused'],
    ['?password=x', 'a password in the database URL (?password=) is refused'],
  ])('%s in the URL is refused like a password', (query, words) => {
    expect(databaseUrlProblem(`${base}${query}`)).toContain(words);
  });
});

describe('[targets] secretShapeProblem: what a Slack or webhook secret must look like (never quoted back)', () => {
  const common = { priorities: null, severity: null, timeoutMs: 1000 };
  const hookUrl: Target = { ...common, name: 'chat', type: 'slack', mode: 'webhook', secret: 'env:SLACK_URL', channel: null, apiUrl: 'https://slack.com/api' };
  const bot: Target = { ...common, name: 'bot', type: 'slack', mode: 'token', secret: 'env:SLACK_TOKEN', channel: 'C0123', apiUrl: 'https://slack.com/api' };
  const hook: Target = { ...common, name: 'hook', type: 'webhook', url: 'https://hooks.example.com/medic', secret: 'env:HOOK_SECRET' };
  it.each<[string, Target, string, RegExp | null]>([
    ['a Slack webhook URL', hookUrl, 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX', null],
    ['a webhook URL to a relay on loopback', hookUrl, 'http://127.0.0.1:8091/services/T000/B000/XXXX', null],
    ['a webhook URL followed by a word', hookUrl, 'https://hooks.slack.com/services/T000/B000/XXXX extra', /holds spaces or control characters/],
    ['a webhook URL with a tab inside', hookUrl, 'https://hooks.slack.com/services/T000/B000/XX\tXX', /holds spaces/],
    ['plain http to another host', hookUrl, 'http://hooks.example.net/services/T000/B000/XXXX', /is not usable/],
    ['not a URL', hookUrl, 'T000/B000/XXXX', /is not a URL/],
    ['a bot token', bot, 'xoxb-1111111111-2222222222-abcdefghijkl', null],
    ['a user token (xoxp-)', bot, 'xoxp-1111111111-2222222222-abcdefghijkl', null],
    ['a webhook URL in the token file', bot, 'https://hooks.slack.com/services/T000/B000/XXXX', /is a URL, not a bot token: .*webhookUrlFile/],
    ['a token with a space', bot, 'xoxb-1111 2222', /not shaped like a Slack bot token/],
    ['a signing secret of 16 characters', hook, 'abcdefghijklmnop', null],
    ['a signing secret of 15 characters', hook, 'abcdefghijklmno', /is 15 characters, expected 16 or more/],
    ['a signing secret with a space', hook, 'abcdefgh ijklmnopq', /spaces or control characters/],
  ])('%s', (_, target, value, problem) => {
    const said = secretShapeProblem(target, value);
    if (problem === null) expect(said).toBeNull();
    else {
      expect(said).toMatch(problem);
      expect(said).not.toContain(value);
    }
  });
});
