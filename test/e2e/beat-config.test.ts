import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { medic, statusBySlug, tempProject, type Project } from '../helpers/cli.js';

const T = Date.parse('2026-03-02T09:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

const CONFIG = {
  services: [
    { slug: 'nightly-backup', name: 'Nightly Backup', interval: '24h', grace: '30m' },
    { slug: 'queue-worker', interval: '5m' },
  ],
};

let project: Project;
const dirs: string[] = [];

afterEach(() => {
  project?.remove();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An empty folder elsewhere, as cron's working directory ($HOME) would be. */
function elsewhere(): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), 'medic-elsewhere-')));
  dirs.push(d);
  return d;
}

describe('medic beat', { timeout: 120_000 }, () => {
  it.each([
    ['--config before the command', (file: string) => ({ args: ['--config', file, 'beat', 'nightly-backup'], env: {} })],
    ['--config after the command', (file: string) => ({ args: ['beat', 'nightly-backup', '--config', file], env: {} })],
    ['MEDIC_CONFIG', (file: string) => ({ args: ['beat', 'nightly-backup'], env: { MEDIC_CONFIG: file } })],
  ])('records a beat from another working directory with %s, silently', async (_how, invocation) => {
    project = tempProject(CONFIG);
    const cwd = elsewhere();
    const { args, env } = invocation(project.configPath);

    const res = await medic(args, { cwd, env, at: T, frozen: true });
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });

    const rows = await statusBySlug(project, { at: T + 1000, frozen: true });
    expect(rows.get('nightly-backup')).toMatchObject({ lastSeen: iso(T), state: 'up' });
    expect(rows.get('queue-worker')).toMatchObject({ lastSeen: null });
  });

  it('finds the config in $XDG_CONFIG_HOME/medic/ when none is above the working directory', async () => {
    const home = elsewhere();
    const xdg = join(home, '.config');
    mkdirSync(join(xdg, 'medic'), { recursive: true });
    writeFileSync(join(xdg, 'medic', 'medic.config.json'), JSON.stringify(CONFIG));
    const cwd = elsewhere();
    const env = { HOME: home, XDG_CONFIG_HOME: xdg };

    expect(await medic(['beat', 'nightly-backup'], { cwd, env, at: T, frozen: true })).toEqual({ code: 0, stdout: '', stderr: '' });

    const status = await medic(['status', '--json'], { cwd: elsewhere(), env, at: T + 1000, frozen: true });
    expect(status.code).toBe(0);
    const row = JSON.parse(status.stdout).find((r: { slug: string }) => r.slug === 'nightly-backup');
    expect(row).toMatchObject({ lastSeen: iso(T) });
  });

  it('refuses a misspelt slug with exit 65 and a suggestion, recording nothing', async () => {
    project = tempProject(CONFIG);
    const res = await medic(['--config', project.configPath, 'beat', 'nightly-bakup'], { cwd: elsewhere(), at: T, frozen: true });
    expect(res.code).toBe(65);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain("unknown service 'nightly-bakup' — did you mean 'nightly-backup'?");
    expect(res.stderr).not.toMatch(/^\s+at /m);

    // The same through the config search (from the project folder).
    const searched = await project.run(['beat', 'nightly-bakup'], { at: T, frozen: true });
    expect(searched.code).toBe(65);
    expect(searched.stderr).toContain("unknown service 'nightly-bakup' — did you mean 'nightly-backup'?");

    const rows = await statusBySlug(project, { at: T + 1000, frozen: true });
    expect(rows.get('nightly-backup').lastSeen).toBeNull();
    expect(rows.get('queue-worker').lastSeen).toBeNull();
  });

  it.each([
    ['the quick path (--config)', true],
    ['the full path (config found by the search)', false],
  ])('creates the database with the config\'s databaseMode in a group set-up, through %s', async (_how, explicit) => {
    project = tempProject({ database: 'state/medic.db', databaseMode: '0660', services: [{ slug: 'nightly-backup' }] });
    const state = join(project.dir, 'state');
    mkdirSync(state);
    chmodSync(state, 0o2770); // the group set-up's folder: group-writable, setgid
    const res = await project.run(explicit ? ['--config', project.configPath, 'beat', 'nightly-backup'] : ['beat', 'nightly-backup']);
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(statSync(join(state, 'medic.db')).mode & 0o777).toBe(0o660);
  });

  it('exits 78 with no config anywhere, saying where it looked and that `medic init` writes one', async () => {
    const home = elsewhere();
    const cwd = elsewhere();
    const xdg = join(home, 'xdg');
    const res = await medic(['beat', 'nightly-backup'], { cwd, env: { HOME: home, XDG_CONFIG_HOME: xdg } });
    expect(res.code).toBe(78);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(cwd);
    expect(res.stderr).toContain(join(xdg, 'medic'));
    expect(res.stderr).toContain('/etc/medic');
    expect(res.stderr).toContain('medic init');
    expect(res.stderr).not.toMatch(/^\s+at /m);
  });

  it.each([['check'], ['status'], ['test-alert']])('`medic %s` also exits 78 without a config', async (command) => {
    const cwd = elsewhere();
    const res = await medic([command], { cwd });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('medic init');
  });
});

describe('bad input', { timeout: 120_000 }, () => {
  it.each([
    [['status', '--frob'], "unknown option '--frob'"],
    [['beat'], "missing required argument 'slug'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['check', '--dryrun'], "unknown option '--dryrun'"],
    [[], 'Usage: medic [options] [command]'],
  ])('medic %j exits 64 with a message and no stack trace', async (args, message) => {
    project = tempProject(CONFIG);
    const res = await project.run(args);
    expect(res.code).toBe(64);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(message);
    expect(res.stderr).not.toMatch(/^\s+at /m);
  });

  it.each([
    ['a bad duration', { services: [{ slug: 'a', interval: '5 minutes' }] }, ['services[0].interval: expected a duration like "5m", got "5 minutes"']],
    ['an unknown key', { servces: [], services: [{ slug: 'a' }] }, ['(root): unknown key "servces"']],
    ['duplicate slugs', { services: [{ slug: 'a' }, { slug: 'a' }] }, ['services[1].slug: "a" is already used by services[0]']],
    [
      'a literal routing key',
      { targets: { oncall: { type: 'pagerduty', routingKey: 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6' } }, services: [{ slug: 'a' }] },
      ['targets.oncall.routingKey: a routing key must not be written in the config file'],
    ],
    [
      'all of these at once',
      {
        servces: [],
        targets: { oncall: { type: 'pagerduty', routingKey: 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6' } },
        services: [{ slug: 'a', interval: '5 minutes' }, { slug: 'a' }],
      },
      [
        '(root): unknown key "servces"',
        'targets.oncall.routingKey: a routing key must not be written in the config file',
        'services[0].interval: expected a duration like "5m", got "5 minutes"',
        'services[1].slug: "a" is already used by services[0]',
      ],
    ],
  ])('a config with %s exits 78 listing every problem with the file and key path', async (_what, config, problems) => {
    project = tempProject(config);
    for (const command of [['beat', 'nope'], ['check'], ['status']]) {
      const res = await project.run(command);
      expect(res.code, command.join(' ')).toBe(78);
      // status shows the services that are valid on their own before it warns (issue 7 §7).
      if (command[0] !== 'status') expect(res.stdout).toBe('');
      for (const problem of problems) expect(res.stderr).toContain(`${project.configPath}: ${problem}`);
      expect(res.stderr).toContain(`(${problems.length} problem${problems.length === 1 ? '' : 's'})`);
      expect(res.stderr).not.toMatch(/^\s+at /m);
      // The literal key is refused, never echoed.
      expect(res.stderr).not.toContain('a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6');
    }
  });

  it('a beat for a listed service is recorded even when another part of the config is broken (check still exits 78)', async () => {
    project = tempProject({ services: [{ slug: 'a' }, { slug: 'b', interval: '5 minutes' }] });
    const beat = await project.run(['beat', 'a']);
    expect(beat).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const check = await project.run(['check']);
    expect(check.code).toBe(78);
    expect(check.stderr).toContain('services[1].interval');
    // Fixed config: the beat recorded while it was broken is there.
    project.writeConfig({ services: [{ slug: 'a' }, { slug: 'b', interval: '5m' }] });
    const rows = JSON.parse((await project.run(['status', '--json'])).stdout) as { slug: string; lastSeen: string | null }[];
    expect(rows.find((r) => r.slug === 'a')?.lastSeen).not.toBeNull();
  });
});
