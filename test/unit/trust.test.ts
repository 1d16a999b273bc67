import { chmodSync, chownSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { looksLikeRoutingKey, redactJobText, redactKnownKeys, redactSecrets, secretForms } from '../../src/errors.js';
import { trustProblem, writeFolderProblem } from '../../src/file-trust.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

describe('trustProblem', () => {
  it.each([
    { uid: 1000, mode: 0o100600, me: 1000, group: false, problem: null },
    { uid: 0, mode: 0o100644, me: 1000, group: false, problem: null },
    { uid: 1001, mode: 0o100600, me: 1000, group: false, problem: /owned by uid 1001/ },
    { uid: 1000, mode: 0o100666, me: 1000, group: false, problem: /every user/ },
    { uid: 1000, mode: 0o100660, me: 1000, group: false, problem: /group can write/ },
    { uid: 1000, mode: 0o100660, me: 1000, group: true, problem: null },
    { uid: 0, mode: 0o041777, me: 0, group: true, problem: /every user/ },
    // User private groups (umask 002): the group is the user alone.
    { uid: 1000, mode: 0o040775, me: 1000, group: false, gid: 1000, ownGroup: 1000, problem: null },
    { uid: 1000, mode: 0o040775, me: 1000, group: false, gid: 100, ownGroup: 1000, problem: /group can write/ },
    { uid: 1000, mode: 0o040777, me: 1000, group: false, gid: 1000, ownGroup: 1000, problem: /every user/ },
  ])('uid $uid mode $mode for uid $me (group write allowed: $group, own group $ownGroup) → $problem', ({ uid, mode, me, group, problem, ...g }) => {
    const { gid = 50, ownGroup } = g as { gid?: number; ownGroup?: number };
    const got = trustProblem({ uid, gid, mode }, me, { groupWritable: group, ownGroup });
    if (problem === null) expect(got).toBeNull();
    else expect(got).toMatch(problem);
  });
});

describe('redactSecrets', () => {
  it.each([
    { text: `bad key ${KEY}`, known: [KEY], keyShaped: false, shows: 'a1b2…o5p6' },
    { text: `bad key ${KEY.toUpperCase()}`, known: [KEY], keyShaped: false, shows: 'A1B2…O5P6' },
    { text: `bad key ${[...KEY].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}`, known: [KEY], keyShaped: false, shows: 'a1b2…o5p6' },
    { text: `token ${'a1'.repeat(16)} here`, known: [], keyShaped: true, shows: 'a1a1…a1a1' },
  ])('hides $text', ({ text, known, keyShaped, shows }) => {
    const out = redactSecrets(text, known, { keyShaped });
    expect(out).toContain(shows);
    expect(out.toLowerCase()).not.toContain(KEY.toLowerCase());
    expect(out).not.toMatch(/[A-Za-z0-9]{32}/);
  });

  it.each([
    ['a signing secret', 'whsec-0123456789abcdef'],
    ['a Slack bot token', 'xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx'],
    ['a Slack webhook URL', 'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX'],
  ])('[targets] hides %s whole, in any case: nothing of it is shown (a routing key keeps its first and last four)', (_, secret) => {
    for (const redact of [(t: string) => redactSecrets(t, [secret]), (t: string) => redactKnownKeys(t, [secret])]) {
      const out = redact(`job said ${secret} and ${secret.toUpperCase()}`);
      expect(out).toBe('job said <secret> and <secret>');
    }
  });

  it('[targets] hides the forms a Slack webhook URL is printed in: its path (curl -v), its last segment, JSON-escaped, percent-encoded', () => {
    const url = 'http://127.0.0.1:18791/services/T0FAKE000/B0FAKE000/fakeWebhookSecretPart123';
    const forms = secretForms(url);
    const printed = [
      `> POST /services/T0FAKE000/B0FAKE000/fakeWebhookSecretPart123 HTTP/1.1`,
      `url=${url.replaceAll('/', '\\/')}`,
      `enc=${encodeURIComponent(url)}`,
      `just fakewebhooksecretpart123 in lower case`,
    ].join('\n');
    const out = redactKnownKeys(printed, forms);
    expect(out.toLowerCase()).not.toContain('fakewebhooksecretpart123');
    expect(out).toContain('POST <secret> HTTP/1.1');
    const token = 'xoxb-1111-2222-abcdefabcdef';
    expect(secretForms(token)).toEqual([token, Buffer.from(token).toString('base64'), Buffer.from(token).toString('hex')]);
  });

  it.each([
    ['an output tail cut inside a secret keeps its end', 'hsec-fake-signing-secret-0123456789\nnext line', '<secret>\nnext line'],
    ['a message cut inside a secret keeps its start', 'token was whsec-fake-signin', 'token was <secret>'],
    ['fewer than 8 characters of it are left alone', '456789 done', '456789 done'],
  ])('[targets] %s: the part is hidden', (_, text, shown) => {
    expect(redactKnownKeys(text, ['whsec-fake-signing-secret-0123456789'])).toBe(shown);
  });

  it.each([
    ['folded over two lines', (s: string) => `${s.slice(0, 32)}\n${s.slice(32)}`],
    ['with its first 8 characters cut off, mid-line', (s: string) => `value ${s.slice(8)} here`],
    ['base64', (s: string) => `b64 ${Buffer.from(s).toString('base64')}`],
    ['hex', (s: string) => `hex ${Buffer.from(s).toString('hex')}`],
  ])('[targets] a signing secret printed %s is hidden', (_, form) => {
    const secret = 'fakefakefakefakefakefakefakefake0123456789abcdef0123456789abcdef';
    const out = redactKnownKeys(form(secret), secretForms(secret));
    for (let i = 0; i + 16 <= secret.length; i++) expect(out).not.toContain(secret.slice(i, i + 16));
    expect(out).toContain('<secret>');
  });

  it('[targets] ordinary words that begin like a Slack webhook URL or its path are left alone', () => {
    const forms = secretForms('http://127.0.0.1:18890/services/T0FAKE0000/B0FAKE0000/FakeFakeFakeFake12345678');
    for (const said of ['synced to /srv/services', 'see https://hooks.slack.com/services', 'docs at http://127.0.0.1', 'moved to /var/services']) {
      expect(redactKnownKeys(said, forms)).toBe(said);
    }
  });

  it.each([
    ['JSON-escaped', 'url=https:\\/\\/hooks.slack.com\\/services\\/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Z0123', 'url=https:\\/\\/hooks.slack.com/services/…'],
    ['percent-encoded', 'u=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT99999999%2FB99999999%2FOtherTeamSecret', 'u=https%3A%2F%2Fhooks.slack.com/services/…'],
    ['as curl -v prints the request line', '> POST /services/T99999999/B99999999/OtherTeamWebhookSecretXYZ HTTP/2', '> POST /services/… HTTP/2'],
    ['an app-level token', 'XAPP=xapp-1-A0123456789-1234567890123-abcdef', 'XAPP=xapp-…'],
  ])('[targets] an unknown Slack webhook URL or token %s is cut in a job\'s text', (_, text, shown) => {
    expect(redactJobText({ message: text }, []).message).toBe(shown);
  });

  it('[targets] a job\'s text never carries a Slack token or webhook URL on, known or not', () => {
    const said = redactJobText({ message: 'token xoxb-9999999999-8888888888-abcdefghijklmnop', outputTail: 'POST https://hooks.slack.com/services/T123/B456/abcdefghijklmnopqrstuvwx' }, []);
    expect(said).toEqual({ message: 'token xoxb-…', outputTail: 'POST https://hooks.slack.com/services/…' });
  });

  it('leaves key-shaped tokens alone unless asked (slugs may look like keys)', () => {
    const slug = 'a1'.repeat(16);
    expect(redactSecrets(`service ${slug}`)).toBe(`service ${slug}`);
    expect(redactSecrets(`word ${'x'.repeat(32)}`, [], { keyShaped: true })).toBe(`word ${'x'.repeat(32)}`);
  });

  it('knows the key shape', () => {
    expect(looksLikeRoutingKey(KEY)).toBe(true);
    expect(looksLikeRoutingKey(`${KEY}x`)).toBe(false);
    expect(looksLikeRoutingKey(KEY.replace('a', '-'))).toBe(false);
  });
});

describe('writeFolderProblem: the folders medic writes into for root to install or run (units, crontab backup, textfile, config)', () => {
  const made: string[] = [];
  afterAll(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const tmp = () => {
    const d = realpathSync(mkdtempSync(join(tmpdir(), 'medic-folder-trust-')));
    made.push(d);
    return d;
  };

  it.each<[string, (base: string) => string, number, RegExp | null]>([
    ['a folder of its own, 0755', (b) => mkdirMode(join(b, 'units'), 0o755), process.getuid!(), null],
    // A POSIX ACL naming another user shows in the mode only as group write (the mask), which for a
    // root:root folder looks like "root's own group": for root, group write is never fine.
    ['run by root: a root:root folder with group write (how an ACL for another user shows)', (b) => mkdirMode(join(b, 'units'), 0o775), 0, /the folder \S+\/units: its group can write it/],
    ['a folder of its own inside a folder another user owns (she can rename it away)', (b) => {
      const home = mkdirMode(join(b, 'home-of-4242'), 0o755);
      chownSync(home, 4242, 4242);
      return mkdirMode(join(home, 'units'), 0o755);
    }, process.getuid!(), /the folder \S+\/home-of-4242: it is owned by uid 4242/],
  ])('%s', (_label, make, uid, problem) => {
    const dir = make(tmp());
    const found = writeFolderProblem(dir, uid, 0);
    if (problem === null) expect(found).toBeNull();
    else expect(found).toMatch(problem);
  });
});

function mkdirMode(dir: string, mode: number): string {
  mkdirSync(dir);
  chmodSync(dir, mode);
  return dir;
}
