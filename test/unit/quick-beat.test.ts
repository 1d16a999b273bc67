import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quickBeatTarget } from '../../src/commands/beat.js';

const dir = mkdtempSync(join(tmpdir(), 'medic-quick-beat-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A config big enough (over 256 KB) that the quick path scans its text instead of parsing it. */
function big(extra: Record<string, unknown>, name: string): string {
  const services = Array.from({ length: 3000 }, (_, i) => ({ slug: `svc-${i}`, name: `Service ${i}`, team: 'platform', interval: '1h' }));
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify({ ...extra, services }, null, 2));
  return file;
}

const target = (file: string, slug: string, env: NodeJS.ProcessEnv = {}) => quickBeatTarget({ path: file, cwd: dir, env }, slug);

describe('quickBeatTarget on a large config (text scan) gives what parsing would', () => {
  it.each([
    ['the default database beside the config', {}, 'svc-2999', join(dir, 'medic.db')],
    ['a relative database path', { database: 'state/medic.db' }, 'svc-0', join(dir, 'state/medic.db')],
    ['a database path with escapes and non-ASCII', { database: 'dáta/m"x\\\\y.db' }, 'svc-7', join(dir, 'dáta/m"x\\\\y.db')],
  ])('%s', (_label, extra, slug, expected) => {
    expect(target(big(extra, `${slug}.json`), slug)).toEqual({ databasePath: expected });
  });

  it.each([
    ['a slug that is not listed', {}, 'svc-3000'],
    ['a slug that is only a prefix of listed ones', {}, 'svc-'],
    ['a slug with regex characters', {}, 'svc-(1)'],
    ['"database" twice (left to the full path)', { database: 'a.db', nested: { database: 'b.db' } }, 'svc-1'],
    ['"database" that is not a string', { database: 42 }, 'svc-1'],
  ])('%s → null (the caller takes the full path)', (_label, extra, slug) => {
    expect(target(big(extra, `null-${_label.length}.json`), slug)).toBeNull();
  });

  it('MEDIC_DB wins, as on the parsing path', () => {
    expect(target(big({ database: 'a.db' }, 'env.json'), 'svc-1', { MEDIC_DB: '/elsewhere/m.db' })).toEqual({ databasePath: '/elsewhere/m.db' });
  });

  it('a small config is parsed: a slug named only in a name does not count', () => {
    const file = join(dir, 'small.json');
    writeFileSync(file, JSON.stringify({ services: [{ slug: 'a', name: '"slug": "b"' }] }));
    expect(target(file, 'b')).toBeNull();
    expect(target(file, 'a')).toEqual({ databasePath: join(dir, 'medic.db') });
  });
});
