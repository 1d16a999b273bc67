/**
 * The config as a trustworthy input, through the real binary: a planted JavaScript config is never
 * run, a hostile file is a config problem (78) and not a crash, an unusable machine time zone does
 * not break checks, and status and history still show what they can while the config is broken.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { medic, tempProject, type Project } from '../helpers/cli.js';

const T = Date.parse('2026-03-02T09:00:00Z');
const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';
const STACK = /^\s+at /m;

let project: Project;
afterEach(() => project?.remove());

/** A JavaScript config that, if run, leaves a file behind. */
function planted(marker: string): string {
  return `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\nmodule.exports = { services: [{ slug: 'web' }] };\n`;
}

describe('a JavaScript config found by the search is never run', { timeout: 120_000 }, () => {
  it('in the working folder: refused (78), saying to pass it with --config', async () => {
    project = tempProject();
    const marker = join(project.dir, 'ran');
    writeFileSync(join(project.dir, 'medic.config.js'), planted(marker));
    for (const args of [['check'], ['status'], ['beat', 'web']]) {
      const res = await project.run(args);
      expect(res.code, res.stderr).toBe(78);
      expect(res.stderr).toContain(`medic: found medic.config.js in ${project.dir}: Medic does not run a config it found by searching`);
      expect(res.stderr).toContain(`--config ${join(project.dir, 'medic.config.js')}`);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('in a folder every user can write, above the working folder (like /tmp): not even looked at', async () => {
    project = tempProject();
    const shared = join(project.dir, 'shared');
    const cwd = join(shared, 'job');
    mkdirSync(cwd, { recursive: true });
    chmodSync(shared, 0o1777);
    const marker = join(project.dir, 'ran');
    writeFileSync(join(shared, 'medic.config.js'), planted(marker));
    writeFileSync(join(shared, 'medic.config.json'), JSON.stringify({ services: [{ slug: 'web' }] }));
    const res = await medic(['check'], { cwd, env: { HOME: project.home } });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('no Medic config found');
    expect(res.stderr).toContain(`did not look in ${shared} (every user on this machine can write it) nor above`);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('a file Medic cannot read is a config problem, never an internal error', { timeout: 120_000 }, () => {
  it('a config nested a million levels deep exits 78', async () => {
    project = tempProject();
    writeFileSync(project.configPath, `{"services":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`);
    const res = await project.run(['check']);
    expect(res.code, res.stderr).toBe(78);
    expect(res.stderr).toContain(project.configPath);
    expect(res.stderr).not.toMatch(STACK);
  });

  it('a routing key pasted as a path or URL is refused and never echoed, by check, status and status --json', async () => {
    project = tempProject({ targets: { oncall: { type: 'pagerduty', routingKeyFile: KEY, eventsUrl: `https://events.pagerduty.com/v2/enqueue/${KEY}` } }, services: [{ slug: 'web' }] });
    for (const args of [['check'], ['status'], ['status', '--json']]) {
      const res = await project.run(args);
      expect(res.code).toBe(78);
      expect(res.stderr).toContain('targets.oncall.routingKeyFile: this looks like a routing key (a1b2…o5p6)');
      expect(res.stderr).toContain('targets.oncall.eventsUrl: this looks like a routing key (a1b2…o5p6)');
      expect(res.stdout + res.stderr).not.toContain(KEY);
    }
  });
});

describe('an unusable machine time zone (TZ empty or unknown)', { timeout: 120_000 }, () => {
  const CONFIG = {
    targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
    services: [{ slug: 'web', interval: '5m' }],
    maintenance: [{ all: true, cron: '0 3 * * *', duration: '1h', reason: 'nightly reindex' }],
  };

  it.each([[''], ['Not/AZone']])('TZ=%j: check stays quiet and exits 0; status says recurring windows use UTC', async (tz) => {
    project = tempProject(CONFIG);
    expect(await project.run(['check'], { env: { TZ: tz }, at: T, frozen: true })).toEqual({ code: 0, stdout: '', stderr: '' });
    const status = await project.run(['status'], { env: { TZ: tz }, at: T + 1000, frozen: true });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('web');
    expect(status.stderr).toContain("medic: the machine's time zone is unusable");
    expect(status.stderr).toContain('recurring maintenance windows without "timezone" are read in UTC');
  });
});

describe('status and history while the config is broken', { timeout: 120_000 }, () => {
  const GOOD = {
    targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
    services: [
      { slug: 'nightly-backup', interval: '24h' },
      { slug: 'web', interval: '5m' },
    ],
  };

  it('show the valid services, then warn with the problems, and exit 78', async () => {
    project = tempProject(GOOD);
    expect((await project.run(['beat', 'web'], { at: T, frozen: true })).code).toBe(0);
    // Someone's edit breaks one service.
    project.writeConfig({ ...GOOD, services: [{ slug: 'nightly-backup', interval: '1 day' }, GOOD.services[1]] });

    const status = await project.run(['status'], { at: T + 1000, frozen: true });
    expect(status.code).toBe(78);
    expect(status.stdout).toMatch(/^web\s+up\s/m);
    expect(status.stdout).not.toContain('nightly-backup');
    expect(status.stderr).toContain(`medic: warning: only the valid part of the config is shown; invalid config ${project.configPath} (1 problem):`);
    expect(status.stderr).toContain('services[0].interval: expected a duration like "5m", got "1 day"');

    const json = await project.run(['status', '--json'], { at: T + 1000, frozen: true });
    expect(json.code).toBe(78);
    expect((JSON.parse(json.stdout) as { slug: string }[]).map((r) => r.slug)).toEqual(['web']);

    const history = await project.run(['history', 'web', '--json'], { at: T + 1000, frozen: true });
    expect(history.code).toBe(78);
    expect(JSON.parse(history.stdout)).toMatchObject({ slug: 'web' });
    expect(history.stderr).toContain('services[0].interval');

    // The broken service itself: not shown, and both reasons are said.
    const broken = await project.run(['history', 'nightly-backup'], { at: T + 1000, frozen: true });
    expect(broken.code).toBe(78);
    expect(broken.stderr).toContain("unknown service 'nightly-backup'");
    expect(broken.stderr).toContain('services[0].interval');
  });

  it('still exit 78 with nothing shown when the file cannot be parsed', async () => {
    project = tempProject();
    writeFileSync(project.configPath, '{ "services": [ { "slug": "web" }, ] }');
    for (const args of [['status'], ['history', 'web']]) {
      const res = await project.run(args);
      expect(res).toMatchObject({ code: 78, stdout: '' });
      expect(res.stderr).toContain('is not valid JSON: ');
      expect(res.stderr).toContain('at line 1, column 36:');
    }
  });
});
