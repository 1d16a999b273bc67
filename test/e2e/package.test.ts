/**
 * The package as a user gets it: this repository packed with `npm pack`, installed with
 * `npm install -g` into a temp prefix (no source beside it), and the INSTALLED medic run through
 * init, beat, check (a service down, a real trigger to a PagerDuty stand-in) and status; then
 * `npx medic --version` and `man -w medic` against that install.
 *
 * One install per run: better-sqlite3 compiles its addon there (about two minutes), with npm's
 * cache and nothing else (--prefer-offline, no audit, no fund).
 */
import { execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GUIDE_EXAMPLE_KEY } from '../fixtures/pagerduty.js';
import { standIns } from '../helpers/standins.js';

const exec = promisify(execFile);
const standIn = standIns();
const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/**
 * npm's environment without what `npm test` exported about this checkout (its prefix, its package,
 * its lifecycle): the user's npm config (cache, nodedir) stays.
 */
const npmEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !/^npm_(package_|lifecycle_|command$|config_(prefix|global_prefix|local_prefix|call|allow_scripts)$)/i.test(name)),
);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `file` and collects its output; a non-zero exit is a result, not a throw. */
function run(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

let tmp: string;
let prefix: string;
/** Paths in the tarball, as `npm pack --json` lists them. */
let packed: string[];
let installed: string;
let installSeconds: number;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'medic-pkg-'));
  prefix = join(tmp, 'prefix');
  // --ignore-scripts: pack the dist/ that pretest built. prepack's clean rebuild would rewrite
  // dist/ under the tests running beside this one.
  const pack = await exec('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: root, env: npmEnv, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  packed = info!.files.map((f) => f.path);
  const started = performance.now();
  // --allow-scripts: better-sqlite3's install script (its addon) is the one the package needs;
  // npm 12 runs no dependency's install script without it.
  const install = await run(
    'npm',
    ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--allow-scripts=better-sqlite3', join(tmp, info!.filename)],
    { cwd: tmp, env: npmEnv, timeoutMs: 900_000 },
  );
  installSeconds = Math.round((performance.now() - started) / 1000);
  // The measure the README and the report quote.
  console.log(`npm install -g of the packed tarball: ${installSeconds} s`);
  if (install.code !== 0) throw new Error(`npm install -g exited ${install.code}:\n${install.stderr}`);
  installed = join(prefix, 'lib', 'node_modules', 'medic');
}, 960_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('package.json', () => {
  // npm's own range logic (semver, which npm and node-abi use; no types of its own here).
  const { subset } = createRequire(import.meta.url)('semver') as { subset(range: string, of: string): boolean };

  it.each(Object.keys(pkg.dependencies))('engines.node promises no Node version that %s does not support', (dep) => {
    const theirs = (JSON.parse(readFileSync(join(root, 'node_modules', dep, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? '*';
    expect(subset(pkg.engines.node, theirs)).toBe(true);
  });

  it('the check would catch a range wider than a dependency allows', () => {
    expect(subset('>=20.12', '>=20.18.1')).toBe(false);
  });
});

describe('npm pack', () => {
  it.each(['bin/medic', 'bin/package.json', 'dist/cli.js', 'dist/quick-beat.cjs', 'dist/medic.1', 'medic.schema.json', 'medic.config.example.json', 'README.md', 'docs/commands.md', 'package.json'])(
    'packs %s',
    (path) => {
      expect(packed).toContain(path);
    },
  );

  it('packs no tests, sources, source maps, databases, keys or dot files', () => {
    const unwanted = packed.filter((p) => /^(test|src|bench|scripts|\.ci|node_modules)\//.test(p) || /\.(ts|map|db|db-wal|db-shm|key|pem|tgz)$/.test(p) || /(^|\/)\./.test(p));
    expect(unwanted).toEqual([]);
    expect(packed.length).toBeGreaterThan(20);
  });
});

/** Every package folder under a node_modules tree (scoped and nested ones too), by name. */
function packagesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((entry) => {
    if (entry.startsWith('.')) return [];
    if (entry.startsWith('@')) return readdirSync(join(dir, entry)).flatMap((sub) => [`${entry}/${sub}`, ...packagesUnder(join(dir, entry, sub, 'node_modules'))]);
    return [entry, ...packagesUnder(join(dir, entry, 'node_modules'))];
  });
}

describe('npm install -g of the tarball', () => {
  it('installs the dependencies and no dev dependency', () => {
    const names = new Set(packagesUnder(join(installed, 'node_modules')));
    expect(Object.keys(pkg.dependencies).filter((d) => !names.has(d))).toEqual([]);
    expect(Object.keys(pkg.devDependencies).filter((d) => names.has(d))).toEqual([]);
    // The build tools: never needed by an install.
    expect(['esbuild', 'typescript', 'vitest', 'ajv'].filter((d) => names.has(d))).toEqual([]);
  });

  it("builds better-sqlite3's addon and ships no sources", () => {
    expect(existsSync(join(installed, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'bin', 'dist', 'docs', 'medic.config.example.json', 'medic.schema.json', 'node_modules', 'package.json']);
  });

  it('runs init, beat, check and status from the installed medic, with nothing beside it', { timeout: 60_000 }, async () => {
    const pd = await standIn();
    const work = join(tmp, 'work');
    const home = join(tmp, 'home');
    mkdirSync(work);
    mkdirSync(home);
    const env = { PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`, HOME: home, TZ: 'UTC', NO_COLOR: '1', PAGERDUTY_ROUTING_KEY: GUIDE_EXAMPLE_KEY };
    const medic = (...args: string[]) => run(join(prefix, 'bin', 'medic'), args, { cwd: work, env });

    const version = await medic('--version');
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });

    const init = await medic('init');
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    // The lines it prints name the installed medic, and the config points at the installed schema.
    expect(init.stdout).toContain(join(installed, 'bin', 'medic'));
    const config = JSON.parse(readFileSync(join(work, 'medic.config.json'), 'utf8'));
    expect(resolve(work, config.$schema)).toBe(join(installed, 'medic.schema.json'));
    expect(existsSync(resolve(work, config.$schema))).toBe(true);

    // The starter config, sent to the stand-in, with a service that goes quiet at once.
    config.targets.oncall.eventsUrl = pd.url;
    config.services.push({ slug: 'db-dump', interval: '1s', grace: '0s' });
    writeFileSync(join(work, 'medic.config.json'), JSON.stringify(config, null, 2));

    expect(await medic('beat', 'nightly-backup')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await medic('beat', 'db-dump')).toEqual({ code: 0, stdout: '', stderr: '' });
    await new Promise((r) => setTimeout(r, 1500));
    expect(await medic('check')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(pd.accepted.map((r) => r.body)).toEqual([expect.objectContaining({ routing_key: GUIDE_EXAMPLE_KEY, event_action: 'trigger', dedup_key: 'medic-heartbeat-db-dump' })]);

    const status = await medic('status', '--json');
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout) as { slug: string; state: string; incidentOpen: boolean }[];
    expect(rows.map((r) => [r.slug, r.state, r.incidentOpen])).toEqual([
      ['nightly-backup', 'up', false],
      ['db-dump', 'down', true],
    ]);
    const table = await medic('status');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/db-dump/);
    // The database is where the config says: beside it, in the work folder.
    expect(readdirSync(work)).toContain('medic.db');
  });

  it('answers npx medic --version from the global install (no second install)', { timeout: 60_000 }, async () => {
    const work = mkdtempSync(join(tmp, 'npx-'));
    // The command as a user types it. npx finds a bin of that name in the global prefix before it
    // would fetch anything; offline and without its "install?" yes, it could not fetch anyway.
    const env = { ...npmEnv, npm_config_prefix: prefix, npm_config_offline: 'true', npm_config_yes: 'false' };
    const npx = await run('npx', ['medic', '--version'], { cwd: work, env });
    expect(npx.stdout).toBe(`${pkg.version}\n`);
    expect(npx.code).toBe(0);
  });

  it('puts the man page where man finds it, and groff reads it without a warning', async () => {
    const page = join(prefix, 'share', 'man', 'man1', 'medic.1');
    expect(existsSync(page)).toBe(true);
    const found = await run('man', ['-w', 'medic'], { cwd: tmp, env: { PATH: process.env.PATH, MANPATH: join(prefix, 'share', 'man') } });
    expect(found).toMatchObject({ code: 0, stderr: '' });
    // man-db names the file the link points at: the package's own page.
    expect(realpathSync(found.stdout.trim())).toBe(realpathSync(page));
    expect(realpathSync(page)).toBe(realpathSync(join(installed, 'dist', 'medic.1')));
    const groff = await run('groff', ['-man', '-Tutf8', '-ww', '-z', page], { cwd: tmp, env: { PATH: process.env.PATH } });
    expect(groff).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});
