/**
 * The password file and routing key files are read only when nobody else could have chosen or read
 * them: every link on the way the user's or root's (as for the config), and the password file
 * private (mode 600). Real files, real links, owners changed with chown (the tests run as root).
 */
import { chmodSync, lchownSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Target } from '../../src/config.js';
import { isMedicError } from '../../src/errors.js';
import { readTargetKey } from '../../src/notify/keys.js';
import { readPasswordFile } from '../../src/store/postgres-url.js';
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
  const target = (file: string): Target => ({ name: 'pd', routingKeyEnv: null, routingKeyFile: file, eventsUrl: 'https://events.example.test/v2/enqueue', severity: null, timeoutMs: 1000 });

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
