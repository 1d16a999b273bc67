/**
 * Finding and reading the config (src/config-file.ts) against real temp folders: the search never
 * runs a JavaScript config, stops at folders other users could write, refuses files other users own
 * or can write, and reports unreadable files (too big, too deep, bad syntax) as config problems
 * (78) that say where, never echoing a routing key. An explicit config is checked and read as one
 * file: links other users own are refused, JSON and YAML are read through the descriptor checked,
 * a JavaScript config is run only from a folder nobody else can write.
 */
import { spawnSync } from 'node:child_process';
import { statSync, chmodSync, chownSync, existsSync, lchownSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { quickBeatTarget } from '../../src/commands/beat.js';
import { checkConfigFile, jsonErrorAt } from '../../src/config-file.js';
import { findConfig, loadConfig } from '../../src/config.js';
import { ConfigError, EXIT } from '../../src/errors.js';

const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const UID = process.getuid!();
/** A uid that is neither the user running the tests nor root. */
const STRANGER = UID === 4242 ? 4243 : 4242;
const CONFIG = { services: [{ slug: 'web' }] };

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh 0700 folder (its own HOME, so the upward search ends there) with `files` written into it. */
function folder(files: Record<string, string> = {}): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-config-file-')));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** What loadConfig throws, as a ConfigError. */
async function refusal(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).exitCode).toBe(EXIT.config);
  return err as ConfigError;
}

/** A JavaScript config that leaves a mark if it is ever run. */
function plantedJs(marker: string, kind: 'esm' | 'cjs'): string {
  const body = `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');`;
  return kind === 'cjs'
    ? `${body}\nmodule.exports = ${JSON.stringify(CONFIG)};\n`
    : `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default ${JSON.stringify(CONFIG)};\n`;
}

describe('the search never runs a JavaScript config', () => {
  it.each([
    ['medic.config.js', 'cjs'],
    ['medic.config.mjs', 'esm'],
    ['medic.config.cjs', 'cjs'],
  ] as const)('%s found by the search is refused, not run, and no other config is used instead', async (name, kind) => {
    const home = folder();
    const marker = join(home, 'ran');
    const project = folder({ [name]: plantedJs(marker, kind) });
    // A valid config further along the search must not be picked up silently instead.
    mkdirSync(join(home, 'xdg', 'medic'), { recursive: true });
    writeFileSync(join(home, 'xdg', 'medic', 'medic.config.json'), JSON.stringify(CONFIG));
    const err = await refusal(loadConfig({ cwd: project, env: { HOME: project, XDG_CONFIG_HOME: join(home, 'xdg') }, uid: UID }));
    expect(err.message).toBe(`found ${name} in ${project}: Medic does not run a config it found by searching`);
    expect(err.hint).toContain(`--config ${join(project, name)}`);
    expect(existsSync(marker)).toBe(false);
  });

  it('loads a JavaScript config passed with --config, when the user or root owns it and no one else can write it', async () => {
    const dir = folder();
    const marker = join(dir, 'ran');
    writeFileSync(join(dir, 'medic.config.mjs'), plantedJs(marker, 'esm'));
    const config = await loadConfig({ path: 'medic.config.mjs', cwd: dir, env: { HOME: dir }, uid: UID });
    expect(config.services.map((s) => s.slug)).toEqual(['web']);
    expect(existsSync(marker)).toBe(true);
  });

  it('refuses, without running it, a JavaScript config passed with --config that every user can write', async () => {
    const dir = folder();
    const marker = join(dir, 'ran');
    const file = join(dir, 'medic.config.cjs');
    writeFileSync(file, plantedJs(marker, 'cjs'));
    chmodSync(file, 0o666);
    const err = await refusal(loadConfig({ path: file, cwd: dir, env: { HOME: dir }, uid: UID }));
    expect(err.message).toBe(`refusing config ${file}: every user on this machine can write it, so someone else could change what Medic does`);
    expect(err.hint).toContain(`chmod go-w ${file}`);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('the search stops at folders other users could write', () => {
  it.each([
    ['writable by every user (like /tmp)', (d: string) => chmodSync(d, 0o1777), 'every user on this machine can write it'],
    ['writable by its group (a shared build folder)', (d: string) => chmodSync(d, 0o775), 'its group can write it'],
    ['owned by another user', (d: string) => chownSync(d, STRANGER, 0), `it is owned by uid ${STRANGER}`],
  ])('a config in a parent folder %s is not read, nor anything above it', async (_name, spoil, why) => {
    const root = folder({ 'medic.config.json': JSON.stringify(CONFIG) });
    const shared = join(root, 'shared');
    const project = join(shared, 'project');
    mkdirSync(project, { recursive: true, mode: 0o700 });
    writeFileSync(join(shared, 'medic.config.json'), JSON.stringify(CONFIG));
    spoil(shared);
    const err = await refusal(loadConfig({ cwd: project, env: { HOME: root, XDG_CONFIG_HOME: join(project, 'xdg') }, uid: UID }));
    expect(err.message).toContain('no Medic config found');
    expect(err.message).toContain(`did not look in ${shared} (${why}`);
    expect(err.message).toContain(') nor above it, because a config there could have been planted by another user');
    // It says where it did look: the project folder only, not "and its parents".
    expect(err.message).toContain(`looked in ${project}, `);
    expect(err.message).not.toContain('and its parents');
  });

  it('trusts a folder only the user\'s own primary group can write (user private groups, umask 002)', async () => {
    const root = folder({ 'medic.config.json': JSON.stringify(CONFIG) });
    const project = join(root, 'project');
    mkdirSync(project, { mode: 0o700 });
    chmodSync(root, 0o775);
    const own = statSync(root).gid;
    const found = await findConfig({ cwd: project, env: { HOME: root }, uid: UID, gid: own });
    expect(found.file).toBe(join(root, 'medic.config.json'));
    // The same folder, for a user whose primary group is another one: not trusted.
    const err = await refusal(loadConfig({ cwd: project, env: { HOME: root, XDG_CONFIG_HOME: join(project, 'xdg') }, uid: UID, gid: own + 1 }));
    expect(err.message).toContain(`did not look in ${root} (its group can write it) nor above it`);
  });

  it('still finds a config in the working folder and its sound parents', async () => {
    const root = folder({ 'medic.config.json': JSON.stringify(CONFIG) });
    const project = join(root, 'a', 'b');
    mkdirSync(project, { recursive: true, mode: 0o755 });
    const found = await findConfig({ cwd: project, env: { HOME: root }, uid: UID });
    expect(found.file).toBe(join(root, 'medic.config.json'));
  });

  it.each(['config', 'config.json', 'medic.config.yaml'])('finds %s in $XDG_CONFIG_HOME/medic/', async (name) => {
    const home = folder({ [`xdg/medic/${name}`]: name.endsWith('.json') ? JSON.stringify(CONFIG) : 'services:\n  - slug: web\n' });
    const found = await findConfig({ cwd: folder(), env: { HOME: home, XDG_CONFIG_HOME: join(home, 'xdg') }, uid: UID });
    expect(found).toEqual({ file: join(home, 'xdg', 'medic', name), raw: CONFIG });
  });

  it('refuses config.js found in $XDG_CONFIG_HOME/medic/ too', async () => {
    const home = folder({ 'xdg/medic/config.js': plantedJs(join(tmpdir(), 'never'), 'cjs') });
    const err = await refusal(findConfig({ cwd: folder(), env: { HOME: home, XDG_CONFIG_HOME: join(home, 'xdg') }, uid: UID }));
    expect(err.message).toBe(`found config.js in ${join(home, 'xdg', 'medic')}: Medic does not run a config it found by searching`);
  });

  it('skips package.json without a "medic" key and reads one that has it', async () => {
    const root = folder({ 'medic.config.yaml': 'services:\n  - slug: web\n', 'sub/package.json': JSON.stringify({ name: 'app' }) });
    const found = await findConfig({ cwd: join(root, 'sub'), env: { HOME: root }, uid: UID });
    expect(found).toEqual({ file: join(root, 'medic.config.yaml'), raw: CONFIG });
    writeFileSync(join(root, 'sub', 'package.json'), JSON.stringify({ name: 'app', medic: CONFIG }));
    expect((await findConfig({ cwd: join(root, 'sub'), env: { HOME: root }, uid: UID })).file).toBe(join(root, 'sub', 'package.json'));
  });
});

describe('a config file other users own or can write is refused, found or given', () => {
  it.each([
    ['found by the search', false],
    ['given with --config', true],
  ])('%s: owned by another user, or writable by every user, it is refused naming the file, why and the fix', async (_how, explicit) => {
    const dir = folder({ 'medic.config.json': JSON.stringify(CONFIG) });
    const file = join(dir, 'medic.config.json');
    const opts = { ...(explicit && { path: file }), cwd: dir, env: { HOME: dir }, uid: UID };

    chownSync(file, STRANGER, 0);
    const owned = await refusal(loadConfig(opts));
    expect(owned.message).toBe(`refusing config ${file}: it is owned by uid ${STRANGER}, neither the user running medic (uid ${UID}) nor root, so someone else could change what Medic does`);
    expect(owned.hint).toContain(`chown ${UID === 0 ? 'root' : UID} ${file}`);

    chownSync(file, UID, 0);
    chmodSync(file, 0o646);
    expect((await refusal(loadConfig(opts))).message).toContain('every user on this machine can write it');

    // Group write: fine for the user's own primary group (user private groups make files 0664),
    // refused for a group of other users, who could rewrite where pages and the key go.
    chmodSync(file, 0o664);
    const gid = statSync(file).gid;
    expect((await loadConfig({ ...opts, gid })).file).toBe(file);
    expect((await refusal(loadConfig({ ...opts, gid: gid + 1 }))).message).toContain('its group can write it');
  });

  it('checkConfigFile (for readers outside findConfig, like the quick beat path) says the same', () => {
    const dir = folder({ 'medic.config.json': JSON.stringify(CONFIG) });
    const file = join(dir, 'medic.config.json');
    expect(() => checkConfigFile(file, UID)).not.toThrow();
    chmodSync(file, 0o606);
    expect(() => checkConfigFile(file, UID)).toThrow(`refusing config ${file}: every user on this machine can write it`);
  });
});

/** A link at `link` to `target`, owned (the link itself) by `owner`. */
function link(target: string, link: string, owner: number): string {
  symlinkSync(target, link);
  lchownSync(link, owner, owner);
  return link;
}

describe('an explicit config is checked and read as one file (a link or a swap cannot change what is read)', () => {
  // The attack: another user's link in her own folder, swapped between a root-owned file (which
  // passes the owner check) and her own. Refusing her link at all closes it, whatever it points to.
  it.each([
    ['proposal.json', 'json'],
    ['proposal.cjs', 'cjs'],
  ] as const)('%s, a link owned by another user, is refused naming the link and its owner, even to a file the user owns', async (name, kind) => {
    const dir = folder();
    const marker = join(dir, 'ran');
    const real = join(dir, `real.${kind}`);
    writeFileSync(real, kind === 'json' ? JSON.stringify(CONFIG) : plantedJs(marker, 'cjs'));
    const file = link(real, join(dir, name), STRANGER);
    const err = await refusal(loadConfig({ path: file, cwd: dir, env: { HOME: dir }, uid: UID }));
    expect(err.message).toBe(
      `refusing config ${file}: it is reached through the link ${file}, owned by uid ${STRANGER}, neither the user running medic (uid ${UID}) nor root, so someone else could choose the file Medic reads`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('a link further along the chain, owned by another user, is refused too', async () => {
    const dir = folder({ 'real.json': JSON.stringify(CONFIG) });
    const theirs = link(join(dir, 'real.json'), join(dir, 'theirs.json'), STRANGER);
    const file = link(theirs, join(dir, 'mine.json'), UID);
    expect((await refusal(findConfig({ path: file, cwd: dir, env: {}, uid: UID }))).message).toContain(`through the link ${theirs}, owned by uid ${STRANGER}`);
    // Nor does it say where another user's link leads (a folder, nothing).
    for (const target of [dir, join(dir, 'nothing.json')]) {
      const theirsTo = link(target, join(dir, `to-${target === dir ? 'folder' : 'nothing'}.json`), STRANGER);
      expect((await refusal(findConfig({ path: theirsTo, cwd: dir, env: {}, uid: UID }))).message).toContain(`through the link ${theirsTo}, owned by uid ${STRANGER}`);
    }
  });

  it.each([
    ['medic.config.json', 'json'],
    ['medic.config.cjs', 'cjs'],
  ] as const)('%s, a link the user owns (to a file in a sound folder), is followed', async (name, kind) => {
    const dir = folder();
    const marker = join(dir, 'ran');
    mkdirSync(join(dir, 'etc'), { mode: 0o755 });
    writeFileSync(join(dir, 'etc', name), kind === 'json' ? JSON.stringify(CONFIG) : plantedJs(marker, 'cjs'));
    const file = link(join(dir, 'etc', name), join(dir, name), UID);
    const config = await loadConfig({ path: file, cwd: dir, env: { HOME: dir }, uid: UID });
    expect(config.services.map((s) => s.slug)).toEqual(['web']);
    expect(existsSync(marker)).toBe(kind === 'cjs');
  });

  it('a link owned by another user to a root-owned file that passes the trust rules is refused, and nothing of the file is shown', async () => {
    const dir = folder({ 'secret.yaml': 'root:$6$notarealhash:19000:0:99999:7:::\n' });
    chownSync(join(dir, 'secret.yaml'), 0, 0);
    chmodSync(join(dir, 'secret.yaml'), 0o640);
    const file = link(join(dir, 'secret.yaml'), join(dir, 's.yaml'), STRANGER);
    const err = await refusal(findConfig({ path: file, cwd: dir, env: {}, uid: UID }));
    expect(err.message).toContain(`it is reached through the link ${file}, owned by uid ${STRANGER}`);
    expect(`${err.message} ${err.hint}`).not.toContain('notarealhash');
    // The quick beat path refuses it the same way: it leaves it to the full path.
    expect(quickBeatTarget({ path: link(join(dir, 'secret.yaml'), join(dir, 'k.json'), STRANGER), cwd: dir, env: {}, uid: UID }, 'web')).toBeNull();
  });

  it.each(['k.json', 'k.yaml', 'k.cjs'])('a FIFO as %s is refused at once, not waited on (also on the quick beat path)', async (name) => {
    const dir = folder();
    const fifo = join(dir, name);
    expect(spawnSync('mkfifo', ['-m', '0600', fifo]).status).toBe(0);
    const err = await refusal(findConfig({ path: fifo, cwd: dir, env: {}, uid: UID }));
    expect(err.message).toBe(`refusing config ${fifo}: it is not a regular file (a pipe, a device or a socket)`);
    // Through a link the user owns, too.
    const viaLink = link(fifo, join(dir, `via-${name}`), UID);
    expect((await refusal(findConfig({ path: viaLink, cwd: dir, env: {}, uid: UID }))).message).toContain('it is not a regular file');
    if (name === 'k.json') expect(quickBeatTarget({ path: fifo, cwd: dir, env: {}, uid: UID }, 'web')).toBeNull();
  });

  it.each([
    ['an empty file', (dir: string) => join(dir, 'empty.json')],
    ['a /proc file (size 0, content on read), through a link the user owns', (dir: string) => link('/proc/self/status', join(dir, 'k.json'), UID)],
  ])('%s is an empty config (78), read at once, not a hang', async (_name, make) => {
    const dir = folder({ 'empty.json': '' });
    const file = make(dir);
    const err = await refusal(findConfig({ path: file, cwd: dir, env: {}, uid: UID }));
    expect(err.message).toBe(`config ${file} is empty`);
  });

  it.each([
    ['writable by every user', (d: string) => chmodSync(d, 0o777), 'every user on this machine can write it'],
    ['writable by a group of other users', (d: string) => chmodSync(d, 0o775), 'its group can write it'],
    ['owned by another user', (d: string) => chownSync(d, STRANGER, STRANGER), `it is owned by uid ${STRANGER}`],
  ])('a JavaScript config in a folder %s is refused, not run (the file could be swapped before the import)', async (_name, spoil, why) => {
    const dir = folder();
    const shared = join(dir, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    const marker = join(dir, 'ran');
    writeFileSync(join(shared, 'medic.config.cjs'), plantedJs(marker, 'cjs'));
    spoil(shared);
    const gid = statSync(shared).gid + 1;
    // Given directly, or through a link the user owns in a sound folder: the real file's folder counts.
    for (const file of [join(shared, 'medic.config.cjs'), link(join(shared, 'medic.config.cjs'), join(dir, 'medic.config.cjs'), UID)]) {
      const err = await refusal(loadConfig({ path: file, cwd: dir, env: { HOME: dir }, uid: UID, gid }));
      expect(err.message).toBe(`refusing to run config ${file}: its folder ${shared} is not safe (${why}${why.startsWith('it is owned') ? ', neither the user running medic (uid ' + UID + ') nor root' : ''}), so someone else could replace the file before Medic runs it`);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it.each([
    ['owned by another user', (d: string) => chownSync(d, STRANGER, STRANGER)],
    ['writable by every user, without the sticky bit', (d: string) => chmodSync(d, 0o777)],
  ])('a JavaScript config below a folder %s is refused: its branch could be renamed away and replaced', async (_name, spoil) => {
    const dir = folder();
    const team = join(dir, 'team');
    const safe = join(team, 'safe');
    mkdirSync(safe, { recursive: true, mode: 0o755 });
    const marker = join(dir, 'ran');
    writeFileSync(join(safe, 'medic.config.cjs'), plantedJs(marker, 'cjs'));
    spoil(team);
    const err = await refusal(loadConfig({ path: join(safe, 'medic.config.cjs'), cwd: dir, env: { HOME: dir }, uid: UID }));
    expect(err.message).toMatch(new RegExp(`^refusing to run config .*: the folder ${team} above it is not safe`));
    expect(existsSync(marker)).toBe(false);
  });

  it('a JavaScript config below a sticky folder (like /tmp) is run when the entry below it is the user\'s', async () => {
    const dir = folder();
    const shared = join(dir, 'shared');
    mkdirSync(join(shared, 'mine'), { recursive: true, mode: 0o755 });
    chmodSync(shared, 0o1777);
    writeFileSync(join(shared, 'mine', 'medic.config.cjs'), 'module.exports = { services: [] };\n');
    const found = await findConfig({ path: join(shared, 'mine', 'medic.config.cjs'), cwd: dir, env: { HOME: dir }, uid: UID });
    expect(found.raw).toEqual({ services: [] });
  });
});

describe('a file that cannot be read is a config problem (78), not an internal error', () => {
  it('applies the 64 MiB limit to a file found by the search', async () => {
    const dir = folder({ 'medic.config.json': '' });
    truncateSync(join(dir, 'medic.config.json'), 64 * 1024 * 1024 + 1);
    const err = await refusal(loadConfig({ cwd: dir, env: { HOME: dir }, uid: UID }));
    expect(err.message).toBe(`config ${join(dir, 'medic.config.json')} is 67108865 bytes; the limit is 67108864`);
  });

  it.each([
    ['a list', (n: number) => `{"services":${'['.repeat(n)}${']'.repeat(n)}}`],
    ['an object', (n: number) => `{"defaults":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}`],
  ])('a config with %s nested a million levels deep', async (_name, nest) => {
    const dir = folder({ 'medic.config.json': nest(1_000_000) });
    const err = await refusal(loadConfig({ cwd: dir, env: { HOME: dir }, uid: UID }));
    expect(err.message).toContain(join(dir, 'medic.config.json'));
  });

  it('a YAML error never shows the routing key it quotes', async () => {
    const dir = folder({ 'medic.config.yaml': `targets:\n  oncall:\n    type: pagerduty\n   routingKeyFile: ${KEY}\n` });
    const err = await refusal(loadConfig({ cwd: dir, env: { HOME: dir }, uid: UID }));
    expect(err.message.split('\n')).toEqual([
      `config ${join(dir, 'medic.config.yaml')} is not valid YAML: bad indentation of a mapping entry at line 4, column 4:`,
      '       routingKeyFile: a1b2…o5p6',
      '       ^',
    ]);
    expect(err.message).not.toContain(KEY);
  });
});

describe('a JSON syntax error is shown at its line and column, with the line and a caret', () => {
  it.each([
    ['a trailing comma', '{\n  "services": [\n    { "slug": "web" },\n  ]\n}', 4, 3, '  ]', '  ^'],
    ['a missing comma', '{\n  "database": "medic.db"\n  "retention": "30d"\n}', 3, 3, '  "retention": "30d"', '  ^'],
    ['a comment', '// Medic\n{}', 1, 1, '// Medic', '^'],
    ['single quotes', "{ 'services': [] }", 1, 3, "{ 'services': [] }", '  ^'],
    ['a cut-off file', '{\n  "services": [', 2, 16, '  "services": [', '               ^'],
    ['a second document', '{}\n{}', 2, 1, '{}', '^'],
    ['a key where a value goes', `{ "database": ${KEY} }`, 1, 15, '{ "database": a1b2…o5p6 }', '              ^'],
  ])('%s', async (_name, text, line, column, shown, caret) => {
    const dir = folder({ 'medic.config.json': text });
    const err = await refusal(loadConfig({ cwd: dir, env: { HOME: dir }, uid: UID }));
    const [first, quoted, pointer] = err.message.split('\n');
    expect(first).toMatch(new RegExp(`^config ${dir}/medic\\.config\\.json is not valid JSON: .+ at line ${line}, column ${column}:$`));
    expect([quoted, pointer]).toEqual([`    ${shown}`, `    ${caret}`]);
    expect(err.message).not.toContain(KEY);
  });

  it.each(['{}', '[]', '1', '"x"', 'null', ' { "a": [1, -2.5e3, true, false, null, {"b": "\\u00e9\\n"}] } ', '{"a":{}}'])('jsonErrorAt finds nothing wrong in %s', (text) => {
    expect(jsonErrorAt(text)).toBe(-1);
  });
});
