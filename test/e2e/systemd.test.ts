/**
 * `medic init --systemd` and doctor's timer check, end to end: the real bin/medic writes the units,
 * the real `systemd-analyze verify` (Debian package systemd, scripts/install-test-tools.sh) judges
 * them, and the real `medic doctor` finds the timer through $SYSTEMD_UNIT_PATH (which systemd itself
 * honours) with a stand-in `crontab` that has no line for the checker.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempProject, type CliResult, type Project } from '../helpers/cli.js';
import { startPdServer, type PdServer } from '../helpers/pd-server.js';

const UNITS = ['medic-check.service', 'medic-check.timer', 'medic-serve.service'];

let pd: PdServer;
beforeAll(async () => {
  pd = await startPdServer();
});
afterAll(() => pd.close());

const projects: Project[] = [];
afterEach(() => {
  for (const p of projects.splice(0)) p.remove();
});

/** A project whose config lives in a folder with a space in its name (the units must quote it). */
function project(): { p: Project; config: string; units: string } {
  const p = tempProject();
  projects.push(p);
  const folder = join(p.dir, 'my medic');
  mkdirSync(folder);
  const config = join(folder, 'medic.config.json');
  writeFileSync(config, JSON.stringify({ database: 'medic.db', targets: { oncall: { type: 'pagerduty', eventsUrl: pd.url, routingKeyFile: '/run/credentials/medic-check.service/pagerduty' } }, services: [{ slug: 'backup', interval: '1h' }] }));
  const units = join(p.dir, 'units');
  mkdirSync(units);
  return { p, config, units };
}

function analyze(args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    execFile('systemd-analyze', args, { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const verify = (files: string[]) => analyze(['verify', ...files]);

/** What verify said about our files (it may also talk about units of the machine it runs on). */
const aboutOurs = (res: CliResult) => `${res.stdout}${res.stderr}`.split('\n').filter((l) => /medic-|bad\.service/.test(l));

describe('medic init --systemd', { timeout: 120_000 }, () => {
  it('writes three units that `systemd-analyze verify` accepts without a word, with this node, this medic and the config quoted', async () => {
    const { p, config, units } = project();
    const res = await p.run(['init', '--systemd', '--dir', units, '-c', config]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('systemctl daemon-reload');
    expect(res.stdout).toContain('systemctl enable --now medic-check.timer');
    const files = UNITS.map((u) => join(units, u));
    const check = readFileSync(files[0]!, 'utf8');
    expect(check).toContain(`ExecStart=${process.execPath} ${BIN} --config "${config}" check\n`);
    expect(check).toContain('LoadCredential=pagerduty:/etc/credstore/pagerduty\n');
    expect(check).toContain(`ReadWritePaths="${join(p.dir, 'my medic')}"\n`);

    const verified = await verify(files);
    expect(aboutOurs(verified)).toEqual([]);
    expect(verified.code).toBe(0);
  });

  it.each(['medic-check.service', 'medic-serve.service'])('%s: `systemd-analyze security` rates its sandbox at most 2.5 of 10 ("OK")', async (name) => {
    const { p, config, units } = project();
    expect((await p.run(['init', '--systemd', '--dir', units, '-c', config])).code).toBe(0);
    // --threshold is on the 0-100 scale of the 0.0-10.0 score it prints; above it, the exit code is not 0.
    const rated = await analyze(['security', '--offline=yes', '--threshold=25', join(units, name)]);
    expect(rated.stdout).toMatch(/Overall exposure level for medic-\S+: [0-2]\.\d/);
    expect(rated.code).toBe(0);
  });

  it('the verify step can fail: a unit whose ExecStart program does not exist is refused', async () => {
    const { units } = project();
    const bad = join(units, 'bad.service');
    writeFileSync(bad, '[Service]\nExecStart=no-such-program-for-medic check\n');
    const verified = await verify([bad]);
    expect(verified.code).not.toBe(0);
    expect(aboutOurs(verified).length).toBeGreaterThan(0);
  });

  it('--print prints the same text it writes', async () => {
    const { p, config, units } = project();
    expect((await p.run(['init', '--systemd', '--dir', units, '-c', config])).code).toBe(0);
    const printed = await p.run(['init', '--systemd', '--print', '-c', config], { cwd: units });
    expect(printed.code).toBe(0);
    // Notes (run as root here?) go to stderr: stdout is the units alone.
    expect(printed.stderr).not.toContain('[Unit]');
    const sections = printed.stdout.split(/^# ==> (\S+) <==\n/m).slice(1);
    const byName = new Map<string, string>();
    for (let i = 0; i < sections.length; i += 2) byName.set(sections[i]!, sections[i + 1]!.replace(/\n\n$/, '\n'));
    expect([...byName.keys()]).toEqual(UNITS);
    for (const u of UNITS) expect(byName.get(u)).toBe(readFileSync(join(units, u), 'utf8'));
  });

  it('refuses to overwrite an existing unit without --force (exit 64, nothing changed) and replaces them with it', async () => {
    const { p, config, units } = project();
    expect((await p.run(['init', '--systemd', '--dir', units, '-c', config])).code).toBe(0);
    const timer = join(units, 'medic-check.timer');
    const original = readFileSync(timer, 'utf8');
    writeFileSync(timer, '# edited\n');

    const again = await p.run(['init', '--systemd', '--dir', units, '-c', config]);
    expect(again.code).toBe(64);
    expect(again.stderr).toContain(join(units, 'medic-check.service'));
    expect(again.stderr).toContain('--force');
    expect(readFileSync(timer, 'utf8')).toBe('# edited\n');

    const forced = await p.run(['init', '--systemd', '--force', '--dir', units, '-c', config]);
    expect(forced.code).toBe(0);
    expect(readFileSync(timer, 'utf8')).toBe(original);
  });

  it('without a config: says which path the units use and that it must exist; never writes a config', async () => {
    const { p, units } = project();
    const res = await p.run(['init', '--systemd', '--dir', units]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`No config found: the units use ${join(p.dir, 'medic.config.json')}, which must exist`);
    expect(() => readFileSync(join(p.dir, 'medic.config.json'))).toThrow();
  });

  it('a --dir every user can write: exit 74, says why and what to do, writes none of the units', async () => {
    const { p, config, units } = project();
    chmodSync(units, 0o777);
    const res = await p.run(['init', '--systemd', '--dir', units, '-c', config]);
    expect(res.code).toBe(74);
    expect(res.stderr).toContain(`refusing to write the units into ${units}`);
    expect(res.stderr).toContain('every user on this machine can write it');
    expect(res.stderr).toContain('--print');
    for (const unit of UNITS) expect(() => readFileSync(join(units, unit))).toThrow();
  });

  it('--dir and --print without --systemd are a usage error', async () => {
    const { p } = project();
    expect((await p.run(['init', '--print'])).code).toBe(64);
  });
});

describe('medic doctor and a systemd timer', { timeout: 120_000 }, () => {
  /** doctor --json in the project, with a `crontab` that has no crontab for the user. */
  async function doctor(p: Project, config: string, unitPath: string): Promise<{ check: string; level: string; detail: string }[]> {
    const bin = join(p.dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'crontab'), '#!/bin/sh\necho "no crontab for medic-test" >&2\nexit 1\n');
    chmodSync(join(bin, 'crontab'), 0o755);
    const res = await p.run(['doctor', '--json', '-c', config], { env: { PATH: bin, SYSTEMD_UNIT_PATH: unitPath } });
    return JSON.parse(res.stdout);
  }

  it('a medic-check.timer unit and no crontab line: "checker schedule: systemd timer medic-check.timer (every minute)", no crontab finding', async () => {
    const { p, config, units } = project();
    expect((await p.run(['init', '--systemd', '--dir', units, '-c', config])).code).toBe(0);
    const findings = await doctor(p, config, units);
    const schedule = findings.find((f) => f.check === 'checker schedule');
    expect(schedule?.level).toBe('ok');
    expect(schedule?.detail).toMatch(/^systemd timer medic-check\.timer \(every minute\)/);
    expect(findings.find((f) => f.check === 'crontab')).toBeUndefined();
  });

  // The new-user walk: a timer alone, or one whose service ran another config, was "ok".
  it.each([
    ['only the timer, no medic-check.service: a warning (nothing runs the checker), and the crontab is checked', 'none', /there is no medic-check\.service beside it/, 'fail'],
    ['a service that runs another config: a warning naming both', 'other-config', /runs it with the config \/etc\/medic\/other\.json, and doctor checked /, undefined],
    ["a service that runs another install's medic: a warning naming both", 'other-medic', /its medic \S+\/old\/bin\/medic is not this install's medic /, undefined],
    ['a service whose medic is not there: a warning, and the crontab is checked', 'no-medic', /runs \/nonexistent\/bin\/medic, which is not there/, 'fail'],
  ])('%s', async (_label, how, detail, crontab) => {
    const { p, config, units } = project();
    expect((await p.run(['init', '--systemd', '--dir', units, '-c', config])).code).toBe(0);
    const service = join(units, 'medic-check.service');
    const text = readFileSync(service, 'utf8');
    const old = join(p.dir, 'old', 'bin', 'medic');
    mkdirSync(dirname(old), { recursive: true });
    writeFileSync(old, '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    if (how === 'none') rmSync(service);
    else if (how === 'other-config') writeFileSync(service, text.replace(/--config "[^"]+"/, '--config /etc/medic/other.json'));
    else writeFileSync(service, text.replace(` ${BIN} `, how === 'other-medic' ? ` ${old} ` : ' /nonexistent/bin/medic '));
    const findings = await doctor(p, config, units);
    const schedule = findings.find((f) => f.check === 'checker schedule');
    expect(schedule?.level).toBe('warn');
    expect(schedule?.detail).toMatch(detail);
    expect(findings.find((f) => f.check === 'crontab')?.level).toBe(crontab);
  });

  it("the last check's fix points at the timer's journal when a timer runs the checker", async () => {
    const { p, config, units } = project();
    expect((await p.run(['init', '--systemd', '--dir', units, '-c', config])).code).toBe(0);
    const last = (await doctor(p, config, units)).find((f) => f.check === 'last check') as { fix?: string } | undefined;
    expect(last?.fix).toContain('journalctl -u medic-check.service');
    expect(last?.fix).not.toContain('crontab');
  });

  it.each([
    ['no timer: the crontab finding fails as before', null, undefined],
    ['a timer that runs hourly: a warning, and the crontab is checked', 'hourly', 'warn'],
  ])('%s', async (_label, onCalendar, scheduleLevel) => {
    const { p, config, units } = project();
    if (onCalendar) writeFileSync(join(units, 'medic-check.timer'), `[Timer]\nOnCalendar=${onCalendar}\n`);
    const findings = await doctor(p, config, units);
    expect(findings.find((f) => f.check === 'checker schedule')?.level).toBe(scheduleLevel);
    expect(findings.find((f) => f.check === 'crontab')?.level).toBe('fail');
  });
});
