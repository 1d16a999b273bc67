import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { init, type InitDeps } from '../../src/commands/init.js';
import { ConfigError, MedicError, UsageError } from '../../src/errors.js';

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-init-unit-')));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const deps = (over: Partial<InitDeps> = {}): InitDeps => ({
  cwd: dir,
  binPath: '/opt/medic/bin/medic',
  nodePath: '/opt/node/bin/node',
  schemaPath: '/opt/medic/medic.schema.json',
  uid: process.getuid!(),
  gid: process.getgid!(),
  ...over,
});

describe('medic init: where it writes', () => {
  it.each([
    ['no --config: ./medic.config.json', undefined, 'medic.config.json'],
    ['--config other.json: that file, not medic.config.json', 'other.json', 'other.json'],
    ['--config in a subfolder', 'sub/../cfg.json', 'cfg.json'],
  ])('%s', (_label, config, expected) => {
    const result = init({ force: false, config }, deps());
    expect(result.file).toBe(join(dir, expected));
    expect(JSON.parse(readFileSync(join(dir, expected), 'utf8')).services).toHaveLength(1);
    if (expected !== 'medic.config.json') expect(existsSync(join(dir, 'medic.config.json'))).toBe(false);
  });

  it('refuses a JavaScript config name (it writes JSON)', () => {
    expect(() => init({ force: false, config: 'medic.config.js' }, deps())).toThrow(UsageError);
  });

  it('a folder that does not exist is a clear error, not a stack trace', () => {
    expect(() => init({ force: false, config: 'nope/medic.json' }, deps())).toThrow(ConfigError);
  });
});

describe('medic init: the lines it prints all start medic the way cron can', () => {
  it.each([
    ['node outside cron\'s PATH: every line gets the same PATH= prefix', '/opt/node/bin/node', 'PATH=/opt/node/bin:/usr/bin:/bin /opt/medic/bin/medic'],
    ['node in /usr/bin: no prefix needed', '/usr/bin/node', '/opt/medic/bin/medic'],
  ])('%s', (_label, nodePath, start) => {
    const { file, lines } = init({ force: false, config: 'other.json' }, deps({ nodePath }));
    const text = lines.join('\n');
    expect(text).toContain(`   * * * * * ${start} --config ${file} check`);
    expect(text).toContain(`3. End each job with: ${start} --config ${file} beat <slug>`);
    expect(text).toContain(`4. Check the PagerDuty side: ${start} --config ${file} test-alert`);
  });

  it('recommends a key file of mode 600 over a variable at the top of the crontab', () => {
    const text = init({ force: false }, deps()).lines.join('\n');
    expect(text).toContain('"routingKeyFile"');
    expect(text).toContain('chmod 600');
    expect(text).toContain('would hand the key to every job');
    expect(text).not.toMatch(/add PAGERDUTY_ROUTING_KEY=.* at the top/);
  });

  it('quotes a path with a space for the shell', () => {
    const { lines } = init({ force: false, config: 'my config.json' }, deps({ nodePath: '/usr/bin/node' }));
    expect(lines.join('\n')).toContain(`/opt/medic/bin/medic --config '${join(dir, 'my config.json')}' check`);
  });
});

describe('medic init never follows a symbolic link in the folder', () => {
  it.each([
    ['a link to an existing file', true],
    ['a dangling link', false],
  ])('%s: refused without --force, nothing written through it', (_label, targetExists) => {
    const victim = join(dir, 'victim.json');
    if (targetExists) writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, 'medic.config.json'));
    expect(() => init({ force: false }, deps())).toThrow(/is a symbolic link; medic init does not write through links/);
    expect(targetExists ? readFileSync(victim, 'utf8') : existsSync(victim)).toBe(targetExists ? 'precious\n' : false);
  });

  it.each([
    ['a link to an existing file', true],
    ['a dangling link', false],
  ])('%s: --force replaces the link itself with a new file', (_label, targetExists) => {
    const victim = join(dir, 'victim.json');
    if (targetExists) writeFileSync(victim, 'precious\n');
    const file = join(dir, 'medic.config.json');
    symlinkSync(victim, file);
    init({ force: true }, deps());
    expect(lstatSync(file).isSymbolicLink()).toBe(false);
    expect(JSON.parse(readFileSync(file, 'utf8')).services).toHaveLength(1);
    expect(targetExists ? readFileSync(victim, 'utf8') : existsSync(victim)).toBe(targetExists ? 'precious\n' : false);
  });

  it.each([
    ['every user can write the folder', 0o777, undefined],
    ['the folder is owned by another user', 0o755, 4242],
  ])('refuses (74) when %s, writing nothing', (_label, mode, owner) => {
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, mode);
    if (owner !== undefined) chownSync(shared, owner, owner);
    let err: unknown;
    try {
      init({ force: false, config: join(shared, 'medic.config.json') }, deps());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MedicError);
    expect((err as MedicError).exitCode).toBe(74);
    expect((err as MedicError).message).toMatch(/^refusing to write .*shared\/medic\.config\.json: the folder .*shared: (every user on this machine can write it|it is owned by uid 4242)/);
    expect(readdirSync(shared)).toEqual([]);
  });

  it('--force over a regular file replaces it and leaves no temporary file behind', () => {
    writeFileSync(join(dir, 'medic.config.json'), '{}\n');
    init({ force: true }, deps());
    expect(JSON.parse(readFileSync(join(dir, 'medic.config.json'), 'utf8')).services).toHaveLength(1);
    expect(readFileSync(join(dir, 'medic.config.json'), 'utf8')).not.toBe('{}\n');
    expect(readdirSync(dir)).toEqual(['medic.config.json']);
  });
});
