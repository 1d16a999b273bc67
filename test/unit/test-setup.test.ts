/**
 * The test set-up itself: tests read nothing outside the repository, a missing system tool names
 * the one command that installs it, and end-to-end tests never run a stale dist/.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { staleBuild } from '../global-setup.js';
import { INSTALL_TEST_TOOLS, libfaketime } from '../helpers/clock.js';
import { tempDir } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('tests read nothing outside the repository', () => {
  const sources = filesUnder(join(ROOT, 'test')).filter((f) => /\.[cm]?[jt]s$/.test(f));

  it.each(sources.map((f) => [f.slice(ROOT.length), f]))('%s resolves no path outside it', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/new URL\(\s*(['"`])([^'"`]+)\1\s*,\s*import\.meta\.url\s*\)/g)].map((m) =>
      fileURLToPath(new URL(m[2]!, pathToFileURL(file))),
    );
    for (const target of targets) expect(target.startsWith(ROOT), target).toBe(true);
    expect(text).not.toMatch(/\.\.\/shared\//);
  });
});

describe('system tools', () => {
  it('a missing libfaketime fails with the command that installs it', () => {
    expect(() => libfaketime([tempDir()])).toThrow(INSTALL_TEST_TOOLS);
  });

  it('that command exists, and .ci/run uses it', () => {
    const script = join(ROOT, INSTALL_TEST_TOOLS.replace(/^sudo /, ''));
    expect(statSync(script).mode & 0o111).not.toBe(0);
    expect(readFileSync(join(ROOT, '.ci/run'), 'utf8')).toMatch(/^scripts\/install-test-tools\.sh$/m);
  });
});

describe('staleBuild: end-to-end tests never run a stale dist/', () => {
  const BEFORE = new Date('2026-01-01T00:00:00Z');
  const BUILT = new Date('2026-01-01T00:01:00Z');
  const LATER = new Date('2026-01-01T00:02:00Z');
  const TREE = ['src/cli.ts', 'src/core/state.ts', 'src/generated/validate-config.js', 'medic.schema.json', 'scripts/build.mjs', 'dist/cli.js'];

  /** A repository-shaped folder: the build's inputs written BEFORE, dist/cli.js BUILT, then `changes`. */
  function tree(changes: Record<string, Date | 'deleted'>): string {
    const root = tempDir('medic-build-');
    for (const file of TREE) {
      if (changes[file] === 'deleted') continue;
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), '');
      const at = (changes[file] as Date | undefined) ?? (file.startsWith('dist/') ? BUILT : BEFORE);
      utimesSync(join(root, file), at, at);
    }
    return root;
  }

  it.each<[string, Record<string, Date | 'deleted'>, string | undefined]>([
    ['every input older than dist/cli.js: fresh', {}, undefined],
    ['never built', { 'dist/cli.js': 'deleted' }, 'dist/cli.js is missing'],
    ['a source file edited after the build', { 'src/core/state.ts': LATER }, 'src/core/state.ts is newer than dist/cli.js'],
    ['the config schema edited', { 'medic.schema.json': LATER }, 'medic.schema.json is newer than dist/cli.js'],
    ['the build script edited', { 'scripts/build.mjs': LATER }, 'scripts/build.mjs is newer than dist/cli.js'],
    ['only src/generated is newer (the build writes it)', { 'src/generated/validate-config.js': LATER }, undefined],
  ])('%s', (_name, changes, expected) => {
    expect(staleBuild(tree(changes))).toBe(expected);
  });
});
