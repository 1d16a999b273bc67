import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { initSystemd, type SystemdDeps } from '../../src/commands/init.js';
import { findSystemdTimer, timerEveryMinute } from '../../src/commands/doctor.js';
import { buildConfig, type Config } from '../../src/config.js';
import { MedicError, UsageError } from '../../src/errors.js';
import { execWord, execWords, pathWord, systemdUnits, type UnitPlan } from '../../src/systemd.js';

const plan = (over: Partial<UnitPlan> = {}): UnitPlan => ({
  nodePath: '/usr/bin/node',
  binPath: '/opt/medic/bin/medic',
  configFile: '/etc/medic/medic.config.json',
  user: 'medic',
  writable: ['/var/lib/medic'],
  secretFiles: [],
  ...over,
});

/** The lines of one unit, by file name. */
const unit = (p: UnitPlan, name: string): string[] => systemdUnits(p).find((u) => u.name === name)!.text.split('\n');
/** The values a unit gives a setting (comments are not settings). */
const setting = (lines: string[], key: string): string[] => lines.filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe('systemd unit words: quoted and escaped as systemd reads them', () => {
  it.each([
    ['a plain path stays as it is', '/usr/bin/node', '/usr/bin/node'],
    ['a space: the word is double-quoted', '/opt/my medic/bin/medic', '"/opt/my medic/bin/medic"'],
    ['a double quote and a backslash are escaped inside the quotes', '/opt/a"b\\c', '"/opt/a\\"b\\\\c"'],
    ['% is a specifier: doubled', '/opt/100%/medic', '"/opt/100%%/medic"'],
    ['$ is a variable in ExecStart: doubled', '/opt/$HOME/medic', '"/opt/$$HOME/medic"'],
    ["a single quote needs the double quotes", "/opt/it's/medic", '"/opt/it\'s/medic"'],
  ])('ExecStart: %s', (_label, word, expected) => {
    expect(execWord(word)).toBe(expected);
  });

  it.each([
    ['a plain path', '/srv/medic', '/srv/medic'],
    ['a space: quoted', '/srv/my medic', '"/srv/my medic"'],
    ['% doubled, $ kept (no variables in paths)', '/srv/100%/$x', '"/srv/100%%/$x"'],
  ])('ReadWritePaths: %s', (_label, path, expected) => {
    expect(pathWord(path)).toBe(expected);
  });

  it.each([
    ['a newline in the config path (it would start a new setting)', { configFile: '/etc/medic/x\nExecStartPre=/bin/sh' }],
    ['a tab in the medic path', { binPath: '/opt/me\tdic' }],
    ['a relative node path', { nodePath: 'node' }],
    ['a newline in the database folder', { writable: ['/srv/a\nb'] }],
    ['a user name with a space', { user: 'bad user' }],
    ['a credential name with a slash', { secretFiles: ['/run/credentials/medic-check.service/a/b'] }],
  ])('refuses %s (usage error, exit 64)', (_label, over) => {
    expect(() => systemdUnits(plan(over))).toThrow(UsageError);
  });

  it('a path with spaces ends up quoted in ExecStart and ReadWritePaths', () => {
    const lines = unit(plan({ binPath: '/opt/my medic/bin/medic', configFile: '/srv/my medic/medic.config.json', writable: ['/srv/my medic'] }), 'medic-check.service');
    expect(setting(lines, 'ExecStart')).toEqual(['/usr/bin/node "/opt/my medic/bin/medic" --config "/srv/my medic/medic.config.json" check']);
    expect(setting(lines, 'ReadWritePaths')).toEqual(['"/srv/my medic"']);
  });
});

describe('the units', () => {
  it.each([
    ['medic-check.service', 'Type', 'oneshot'],
    ['medic-check.service', 'ExecStart', '/usr/bin/node /opt/medic/bin/medic --config /etc/medic/medic.config.json check'],
    ['medic-check.service', 'User', 'medic'],
    ['medic-check.service', 'ProtectSystem', 'strict'],
    ['medic-check.timer', 'OnCalendar', 'minutely'],
    ['medic-check.timer', 'Persistent', 'false'],
    ['medic-check.timer', 'AccuracySec', '1s'],
    ['medic-check.timer', 'WantedBy', 'timers.target'],
    ['medic-serve.service', 'ExecStart', '/usr/bin/node /opt/medic/bin/medic --config /etc/medic/medic.config.json serve'],
    ['medic-serve.service', 'User', 'medic'],
    ['medic-serve.service', 'ProtectSystem', 'strict'],
    ['medic-serve.service', 'StateDirectory', 'medic'],
    ['medic-serve.service', 'ProtectHome', 'yes'],
    ['medic-serve.service', 'PrivateTmp', 'yes'],
    ['medic-serve.service', 'NoNewPrivileges', 'yes'],
    ['medic-serve.service', 'RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ['medic-serve.service', 'SystemCallFilter', '@system-service'],
    ['medic-serve.service', 'CapabilityBoundingSet', ''],
    ['medic-serve.service', 'Restart', 'on-failure'],
    ['medic-serve.service', 'RestartPreventExitStatus', '64 65 78'],
    ['medic-serve.service', 'WantedBy', 'multi-user.target'],
  ])('%s has %s=%s', (name, key, value) => {
    expect(setting(unit(plan(), name), key)).toEqual([value]);
  });

  it('the database in /var/lib/medic needs no ReadWritePaths (StateDirectory makes it writable); a folder elsewhere does', () => {
    expect(setting(unit(plan(), 'medic-serve.service'), 'ReadWritePaths')).toEqual([]);
    expect(setting(unit(plan({ writable: ['/var/lib/medic', '/srv/medic', '/srv/spool'] }), 'medic-check.service'), 'ReadWritePaths')).toEqual(['/srv/medic /srv/spool']);
  });

  it.each([
    ['everything outside home folders: ProtectHome=yes, PrivateTmp=yes', {}, 'yes', 'yes'],
    ['node under /home (nvm): ProtectHome=read-only', { nodePath: '/home/ops/.nvm/versions/node/v20/bin/node' }, 'read-only', 'yes'],
    ['the database under /root: ProtectHome=read-only (ReadWritePaths opens it)', { writable: ['/root/medic'] }, 'read-only', 'yes'],
    ['the config under /tmp: PrivateTmp would hide it', { configFile: '/tmp/x/medic.config.json' }, 'yes', 'no'],
  ])('%s', (_label, over, home, tmp) => {
    const lines = unit(plan(over), 'medic-serve.service');
    expect(setting(lines, 'ProtectHome')).toEqual([home]);
    expect(setting(lines, 'PrivateTmp')).toEqual([tmp]);
  });

  it("loads each secret the config reads from a unit's credentials folder from /etc/credstore, in that unit only", () => {
    const p = plan({ secretFiles: ['/run/credentials/medic-check.service/pagerduty', '/run/credentials/medic-serve.service/ping-key', '/etc/medic/slack.token'] });
    expect(setting(unit(p, 'medic-check.service'), 'LoadCredential')).toEqual(['pagerduty:/etc/credstore/pagerduty']);
    expect(setting(unit(p, 'medic-serve.service'), 'LoadCredential')).toEqual(['ping-key:/etc/credstore/ping-key']);
    expect(setting(unit(plan(), 'medic-check.service'), 'LoadCredential')).toEqual([]);
  });
});

describe('medic init --systemd (in-process)', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-systemd-unit-')));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const configOf = (raw: unknown): Config => buildConfig(raw, join(dir, 'medic.config.json'), { env: {}, cwd: dir });
  const deps = (config: Config | null, over: Partial<SystemdDeps> = {}): SystemdDeps => ({
    cwd: dir,
    binPath: '/opt/medic/bin/medic',
    nodePath: '/usr/bin/node',
    loadConfig: () => Promise.resolve(config),
    user: 'ops',
    uid: 1000,
    ...over,
  });

  it("the config's database folder and spool become ReadWritePaths; a PostgreSQL database needs none", async () => {
    const sqlite = await initSystemd({ force: false, print: true }, deps(configOf({ database: 'data/medic.db', spool: 'spool', services: [] })));
    expect(setting(sqlite.units[0]!.text.split('\n'), 'ReadWritePaths')).toEqual([`${join(dir, 'data')} ${join(dir, 'spool')}`]);
    const pg = await initSystemd({ force: false, print: true }, deps(configOf({ database: 'postgres://medic@db.internal/medic', services: [] })));
    expect(setting(pg.units[0]!.text.split('\n'), 'ReadWritePaths')).toEqual([]);
  });

  it('a secret read from a variable is named in a note (a unit does not have it), never its value', async () => {
    const config = configOf({ targets: { oncall: { type: 'pagerduty', routingKeyEnv: 'ONCALL_KEY' } }, services: [] });
    const result = await initSystemd({ force: false, print: true }, deps(config));
    expect(result.lines.join('\n')).toContain('$ONCALL_KEY');
    expect(result.lines.join('\n')).toContain('/run/credentials/medic-check.service/');
  });

  it.each([
    ['off loopback: a note on giving medic-serve.service the variable through a root-only EnvironmentFile=', '0.0.0.0:8080', true],
    ['on loopback the page is open: no note', '127.0.0.1:8080', false],
  ])('serve.viewKeyEnv, %s', async (_label, listen, noted) => {
    const config = configOf({ services: [], serve: { listen, viewKeyEnv: 'MEDIC_VIEW_KEY' } });
    const text = (await initSystemd({ force: false, print: true }, deps(config))).lines.join('\n');
    expect(text.includes("The config reads the status page's view key from $MEDIC_VIEW_KEY, which medic-serve.service does not have")).toBe(noted);
    if (noted) expect(text).toContain('install -m 600 /dev/null /etc/medic/medic-serve.env, write MEDIC_VIEW_KEY=<the key> into it, and add EnvironmentFile=/etc/medic/medic-serve.env under [Service] with `systemctl edit medic-serve.service`');
  });

  it('--print writes nothing', async () => {
    const result = await initSystemd({ force: false, print: true, dir }, deps(null));
    expect(result.written).toEqual([]);
    expect(() => lstatSync(join(dir, 'medic-check.service'))).toThrow();
  });

  it.each([
    ['run by root: a user of its own (medic), never root, with how to create it', { uid: 0, user: 'root' }, 'medic', 'useradd --system'],
    ['run by ops: ops, the owner of the config and the database', { uid: 1000, user: 'ops' }, 'ops', null],
  ])('User= of both services, %s', async (_, who, expected, note) => {
    const result = await initSystemd({ force: false, print: true }, deps(configOf({ database: 'data/medic.db', services: [] }), who));
    for (const unit of [result.units[0]!, result.units[2]!]) expect(setting(unit.text.split('\n'), 'User')).toEqual([expected]);
    const notes = result.lines.join('\n');
    if (note === null) expect(notes).not.toContain('useradd');
    else {
      expect(notes).toContain(`${note} --user-group --no-create-home medic`);
      expect(notes).toContain(`chown -R medic: ${join(dir, 'data')}`);
    }
  });

  // The attacker walk: root wrote the units where mallory could swap one before root installed it.
  it.each([
    ['a folder every user can write', 'open', 'every user on this machine can write it'],
    ['a folder another user owns', 'theirs', 'owned by uid 4321'],
    ['a link owned by another user to a root-only folder', 'their-link', 'reached through the link'],
  ])('refuses (74) --dir %s, writing none of the units; --print is still fine', async (_, how, why) => {
    const real = join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    let folder = real;
    if (how === 'open') chmodSync(real, 0o777);
    if (how === 'theirs') chownSync(real, 4321, 4321);
    if (how === 'their-link') {
      folder = join(dir, 'link');
      symlinkSync(real, folder);
      lchownSync(folder, 4321, 4321);
    }
    const refused = await initSystemd({ force: false, print: false, dir: folder }, deps(null, { uid: 0, user: 'root' })).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(MedicError);
    expect((refused as MedicError).exitCode).toBe(74);
    expect((refused as MedicError).message).toContain(why);
    expect((refused as MedicError).hint).toContain('--print');
    expect(readdirSync(real)).toEqual([]);
    expect((await initSystemd({ force: false, print: true, dir: folder }, deps(null, { uid: 0, user: 'root' }))).units).toHaveLength(3);
  });

  it("a group-writable folder whose group is the user's own (user private groups) is fine", async () => {
    const real = join(dir, 'real');
    mkdirSync(real);
    chownSync(real, 1000, 1000);
    chmodSync(real, 0o775);
    const result = await initSystemd({ force: false, print: false, dir: real }, deps(null, { uid: 1000, gid: 1000 }));
    expect(result.written).toHaveLength(3);
  });

  it('refuses a link at a unit name even with another name free, writing none of the three; --force replaces the link, not its target', async () => {
    const target = join(dir, 'elsewhere');
    writeFileSync(target, 'keep');
    symlinkSync(target, join(dir, 'medic-check.timer'));
    await expect(initSystemd({ force: false, print: false }, deps(null))).rejects.toThrow(/symbolic link/);
    expect(() => lstatSync(join(dir, 'medic-check.service'))).toThrow();

    await initSystemd({ force: true, print: false }, deps(null));
    expect(lstatSync(join(dir, 'medic-check.timer')).isSymbolicLink()).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('keep');
  });
});

describe('execWords: an ExecStart= line split as systemd does, the inverse of execWord', () => {
  it.each([
    ['plain words', '/usr/bin/node /opt/medic/bin/medic check', ['/usr/bin/node', '/opt/medic/bin/medic', 'check']],
    ['a quoted path with a space', '/usr/bin/node --config "/srv/my medic/medic.json" check', ['/usr/bin/node', '--config', '/srv/my medic/medic.json', 'check']],
    ['escapes inside quotes, %% and $$', '"a\\"b" 50%% $$HOME', ['a"b', '50%', '$HOME']],
    ['single quotes', "'/srv/a b'", ['/srv/a b']],
  ])('%s', (_, line, words) => {
    expect(execWords(line)).toEqual(words);
  });

  it.each(['/srv/my medic/medic.json', 'a"b\\c', '50%', '$HOME', 'plain'])('round-trips execWord(%j)', (word) => {
    expect(execWords(execWord(word))).toEqual([word]);
  });
});

describe('findSystemdTimer: the timer doctor recognises', () => {
  let dir: string;
  beforeEach(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'medic-timer-unit-')));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('finds medic-check.timer on $SYSTEMD_UNIT_PATH, first folder first, and reads its OnCalendar=', async () => {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'medic-check.timer'), '[Timer]\nOnCalendar=minutely\n');
    const found = await findSystemdTimer({ SYSTEMD_UNIT_PATH: `${join(dir, 'a')}:${join(dir, 'b')}` });
    expect(found).toMatchObject({ file: join(dir, 'b', 'medic-check.timer'), onCalendar: ['minutely'] });
  });

  it('reads the medic-check.service beside the timer: its last ExecStart=, without a -@:+! prefix; none: null', async () => {
    writeFileSync(join(dir, 'medic-check.timer'), '[Timer]\nOnCalendar=minutely\n');
    expect((await findSystemdTimer({ SYSTEMD_UNIT_PATH: dir }))?.service).toBeNull();
    writeFileSync(join(dir, 'medic-check.service'), '[Service]\nExecStart=/bin/false\nExecStart=-/usr/bin/node /opt/medic/bin/medic check\n');
    expect((await findSystemdTimer({ SYSTEMD_UNIT_PATH: dir }))?.service).toEqual({ file: join(dir, 'medic-check.service'), execStart: '/usr/bin/node /opt/medic/bin/medic check' });
  });

  it('a FIFO where the unit file would be is passed over, not read (it would hang doctor)', async () => {
    execFileSync('mkfifo', [join(dir, 'medic-check.timer')]);
    expect(await findSystemdTimer({ SYSTEMD_UNIT_PATH: dir })).toBeNull();
  });

  it.each([
    [['minutely'], true],
    [['*-*-* *:*:00'], true],
    [['*:*'], true],
    [['hourly'], false],
    [['*:0/5'], false],
    [[], false],
    [['hourly', 'minutely'], true],
  ])('OnCalendar=%j runs every minute: %s', (values, expected) => {
    expect(timerEveryMinute(values)).toBe(expected);
  });

  it('no unit file: null', async () => {
    expect(await findSystemdTimer({ SYSTEMD_UNIT_PATH: dir })).toBeNull();
  });
});
