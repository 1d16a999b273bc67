/**
 * `medic discover` through the real binary and the real `crontab` program (Debian package `cron`),
 * as a throwaway user made for this file (`useradd`, removed afterwards): root's own crontab is
 * never touched. The rewritten lines are then run the way cron runs them (cron's % handling, then
 * /bin/sh -c) through the real `medic run`, and their output compared with the original commands'.
 * Needs root (CI runs the tests as root): only root can make a user to own a crontab.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cronShellText, parseCrontab } from '../../src/crontab.js';
import { BIN } from '../helpers/cli.js';

const USER = `medic-disc-${process.pid}`;
let uid = -1;
let gid = -1;
let dir = '';
let config = '';

/** The jobs: each prints something that shows its quoting survived. Schedules far apart, so a running cron daemon leaves them alone. */
const JOBS = [
  '0 3 1 1 * echo "it\'s $((6*7))" \'$HOME\' `echo tick` $(echo sub) ; echo two && echo three',
  "15 4 1 1 * printf '[\\%s]\\n' 'a b' \"c'd\" | tr a-z A-Z",
  '30 4 1 1 * cd / && pwd; echo \\\\back\\\\slash',
];
const CRONTAB = [
  '# m h dom mon dow command (café ☕: the backup keeps every byte)',
  'MAILTO=""',
  ...JOBS,
  '@reboot echo booted',
  '0 5 1 1 * date +%F > /dev/null',
  `0 6 1 1 * ${BIN} beat backup`,
  '',
].join('\n');

const as = () => ({ uid, gid });

function crontabOf(): string | null {
  const r = spawnSync('crontab', ['-u', USER, '-l'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}

function crontabBytes(): Buffer | null {
  const r = spawnSync('crontab', ['-u', USER, '-l']);
  return r.status === 0 ? r.stdout : null;
}

function setCrontab(text: string | Buffer | null): void {
  if (text === null) spawnSync('crontab', ['-u', USER, '-r']);
  else execFileSync('crontab', ['-u', USER, '-'], { input: text });
}

function medic(args: string[], opts: { stdin?: string; tty?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TZ: 'UTC', NO_COLOR: '1', USER, LOGNAME: USER };
  const [file, argv] = opts.tty ? ['script', ['-qec', [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' '), '/dev/null']] : [process.execPath, [BIN, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(file as string, argv as string[], { cwd: dir, env, ...as(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => {});
    if (opts.stdin !== undefined) child.stdin.write(opts.stdin);
    child.stdin.end();
  });
}

/** What cron does with a job line's command field, as the test user, in cron's environment. */
function asCron(command: string): { out: string; code: number | null } {
  const r = spawnSync('/bin/sh', ['-c', cronShellText(command)], {
    cwd: dir,
    env: { PATH: '/usr/bin:/bin', HOME: dir, SHELL: '/bin/sh', LOGNAME: USER },
    ...as(),
    encoding: 'utf8',
  });
  return { out: r.stdout, code: r.status };
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('test/e2e/discover.test.ts makes a throwaway user for its crontab: run it as root (CI does)');
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
  uid = Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' }).trim());
  gid = Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' }).trim());
});

afterAll(() => {
  if (uid < 0) return;
  spawnSync('crontab', ['-u', USER, '-r']);
  execFileSync('userdel', [USER]);
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'medic-discover-'));
  chownSync(dir, uid, gid);
  config = join(dir, 'medic.config.json');
  writeFileSync(config, `${JSON.stringify({ services: [{ slug: 'backup', interval: '1d' }] }, null, 2)}\n`);
  chownSync(config, uid, gid);
  setCrontab(CRONTAB);
  return () => {
    setCrontab(null);
    rmSync(dir, { recursive: true, force: true });
  };
});

describe('medic discover with the real crontab', () => {
  it('a user without a crontab: nothing to propose, exit 0', async () => {
    setCrontab(null);
    const res = await medic(['discover']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('No job to propose a service for.');
    expect(res.stdout).toContain(`this user has no crontab (no crontab for ${USER})`);
  });

  it('lists each job with its service, and what it leaves alone and why', async () => {
    const res = await medic(['discover', '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.config).toBe(config);
    expect(report.proposals.map((p: any) => [p.line, p.service])).toEqual([
      [3, { slug: 'echo', schedule: '0 3 1 1 *', timezone: 'UTC', grace: '1h' }],
      [4, { slug: 'printf', schedule: '15 4 1 1 *', timezone: 'UTC', grace: '1h' }],
      [5, { slug: 'pwd', schedule: '30 4 1 1 *', timezone: 'UTC', grace: '1h' }],
    ]);
    expect(report.skipped.map((s: any) => [s.line, s.reason.split(':')[0]])).toEqual([
      [1, 'a comment'],
      [2, 'an environment line (MAILTO=…)'],
      [6, '@reboot'],
      [7, 'it has a % without a backslash'],
      [8, 'it already runs medic'],
    ]);
    expect(crontabOf()).toBe(CRONTAB);
  });

  it('--apply without a terminal and without --yes: 64, nothing changed', async () => {
    const before = readFileSync(config, 'utf8');
    const res = await medic(['discover', '--apply']);
    expect(res.code).toBe(64);
    expect(res.stderr).toContain('there is no terminal to ask on: nothing was changed');
    expect(res.stderr).toContain('--yes');
    expect(crontabOf()).toBe(CRONTAB);
    expect(readFileSync(config, 'utf8')).toBe(before);
  });

  it('on a terminal: asks, and a "n" changes nothing', async () => {
    const res = await medic(['discover', '--apply'], { tty: true, stdin: 'n\n' });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('[y/N]');
    expect(res.stdout).toContain('Nothing was changed.');
    expect(crontabOf()).toBe(CRONTAB);
  });

  it('on a terminal: a "y" applies', async () => {
    const res = await medic(['discover', '--apply'], { tty: true, stdin: 'y\n' });
    expect(res.code).toBe(0);
    expect(crontabOf()).not.toBe(CRONTAB);
  });

  it('--apply --yes: services added, lines rewritten, the jobs print what they printed before, through medic run', async () => {
    const res = await medic(['discover', '--apply', '--yes']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('- 0 3 1 1 * echo');
    expect(res.stdout).toContain('+ 0 3 1 1 * ');

    const cfg = JSON.parse(readFileSync(config, 'utf8'));
    expect(cfg.services.map((s: any) => s.slug)).toEqual(['backup', 'echo', 'printf', 'pwd']);
    expect(statSync(config).uid).toBe(uid);

    const backups = readdirSync(dir).filter((f) => /^crontab\.\d{8}T\d{6}Z\.bak$/.test(f));
    expect(backups).toHaveLength(1);
    const backup = join(dir, backups[0]!);
    expect(readFileSync(backup)).toEqual(Buffer.from(CRONTAB));
    expect(statSync(backup).mode & 0o777).toBe(0o600);
    expect(statSync(backup).uid).toBe(uid);

    const after = crontabOf()!;
    const old = parseCrontab(CRONTAB).jobs;
    const now = parseCrontab(after).jobs;
    expect(now.map((j) => j.schedule)).toEqual(old.map((j) => j.schedule));
    for (const [i, job] of old.entries()) {
      const rewritten = now[i]!;
      if (i >= JOBS.length) {
        expect(rewritten).toEqual(job);
        continue;
      }
      expect(rewritten.command).toContain(`--config ${config} run ${cfg.services[i + 1].slug} -- /bin/sh -c '`);
      const original = asCron(job.command);
      expect(original.out.split('\n').length).toBeGreaterThan(1);
      expect(asCron(rewritten.command)).toEqual(original);
    }
    // Each run was recorded by medic run.
    const status = await medic(['status', '--json']);
    const rows = JSON.parse(status.stdout);
    expect(rows.filter((r: any) => r.lastSeen !== null).map((r: any) => r.slug).sort()).toEqual(['echo', 'printf', 'pwd']);

    // The documented undo: install the backup.
    const undo = spawnSync('crontab', [backup], { ...as(), env: { PATH: '/usr/bin:/bin' } });
    expect(undo.status).toBe(0);
    expect(crontabOf()).toBe(CRONTAB);

    // After the undo, with the services kept: the lines go back to the same services, none is added.
    const back = await medic(['discover', '--json']);
    expect(JSON.parse(back.stdout).proposals.map((p: any) => [p.service.slug, p.existing])).toEqual([
      ['echo', true],
      ['printf', true],
      ['pwd', true],
    ]);

    // A second run proposes nothing new for the wrapped lines.
    setCrontab(after);
    const again = await medic(['discover', '--json']);
    expect(JSON.parse(again.stdout).proposals).toEqual([]);
  });

  it('a crontab that is not UTF-8: --apply --yes refuses (65) and changes no byte, backup included', async () => {
    const latin1 = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from(' jobs\n@reboot /opt/caf'), Buffer.from([0xe9]), Buffer.from('/boot.sh\n0 3 1 1 * /opt/caf'), Buffer.from([0xe9]), Buffer.from('/backup.sh\n')]);
    setCrontab(latin1);
    expect(crontabBytes()).toEqual(latin1);
    const before = readFileSync(config, 'utf8');
    const res = await medic(['discover', '--apply', '--yes']);
    expect(res.code).toBe(65);
    expect(res.stderr).toContain('crontab lines 1, 2, 3 are not UTF-8 text: medic discover --apply would change their bytes, so nothing was changed');
    expect(crontabBytes()).toEqual(latin1);
    expect(readFileSync(config, 'utf8')).toBe(before);
    expect(readdirSync(dir).filter((f) => f.endsWith('.bak'))).toEqual([]);
  });

  it("--apply with the config in a folder every user can write (sticky, like /tmp): refused (78), nothing changed", async () => {
    chmodSync(dir, 0o1777);
    const res = await medic(['discover', '--config', config, '--apply', '--yes']);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`refusing --apply: the backup of the crontab would go beside the config, in ${dir}, which is not safe (every user on this machine can write it)`);
    expect(crontabOf()).toBe(CRONTAB);
    expect(readdirSync(dir).filter((f) => f.endsWith('.bak'))).toEqual([]);
  });

  it('shows a tab of a crontab line as a tab, to be pasted; other control characters escaped', async () => {
    setCrontab('0\t3\t1\t1\t*\techo "tab\there" \u001b[31m\n');
    const res = await medic(['discover']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('crontab line 1: echo "tab\there" \\x1b[31m\n');
    expect(res.stdout).toMatch(/ {2}new line: 0\t3\t1\t1\t\*\t\S+ --config \S+ run echo -- \/bin\/sh -c 'echo "tab\there" \\x1b\[31m'\n/);
    expect(res.stdout).not.toContain('\\t');
  });

  it('--system lists /etc files but --apply never touches them', async () => {
    const res = await medic(['discover', '--system', '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.proposals.filter((p: any) => p.source !== 'crontab').every((p: any) => p.applies === false)).toBe(true);
    expect(report.proposals.filter((p: any) => p.source === 'crontab')).toHaveLength(3);
  });
});
