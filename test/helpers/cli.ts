/**
 * Runs the real `bin/medic` as a child process, optionally at a chosen instant under libfaketime,
 * inside a temp project folder holding a medic.config.json.
 *
 * Node builtins only.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUIDE_EXAMPLE_KEY } from '../fixtures/pagerduty.js';
import { clockEnv, FAKETIME_SHM_CLASH, removeFaketimeShm } from './clock.js';

/** The PagerDuty guide's example routing key (never a real one). */
export const ROUTING_KEY = GUIDE_EXAMPLE_KEY;

export const BIN = fileURLToPath(new URL('../../bin/medic', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Working directory (Project.run: the project's folder). */
  cwd?: string;
  /**
   * Variables added to the base environment; `undefined` removes one. The base environment is only
   * PATH, TZ=UTC, HOME=cwd and XDG_CONFIG_HOME=cwd/.config (Project.run: a home inside the project),
   * so nothing from the machine running the tests (a real MEDIC_CONFIG, a real routing key) leaks in.
   */
  env?: Record<string, string | undefined>;
  /** Run under faketime at this instant (epoch ms, whole seconds, or an ISO string). */
  at?: number | string;
  /** With `at`: stop the clock at that instant instead of letting it run on (exact timestamps). */
  frozen?: boolean;
  /** With `at` (running clock): the clock runs this many times faster, so a check's delivery budget passes quickly. */
  speed?: number;
  /** Kill the child after this long (a safety net, not an assertion). Default 120 s. */
  killAfterMs?: number;
}

/** A temp folder holding medic.config.json; `run` spawns medic with --config unset, from that folder. */
export interface Project {
  dir: string;
  configPath: string;
  /** HOME and XDG_CONFIG_HOME of every run (inside dir). */
  home: string;
  writeConfig(config: unknown): void;
  run(args: string[], opts?: CliOptions): Promise<CliResult>;
  remove(): void;
}

/** Creates a temp project; with `config`, writes it as medic.config.json. */
export function tempProject(config?: unknown): Project {
  const dir = mkdtempSync(join(tmpdir(), 'medic-e2e-'));
  const home = join(dir, 'home');
  mkdirSync(home);
  const configPath = join(dir, 'medic.config.json');
  const project: Project = {
    dir,
    configPath,
    home,
    writeConfig(cfg) {
      writeFileSync(configPath, `${JSON.stringify(cfg, null, 2)}\n`);
    },
    run(args, opts = {}) {
      return medic(args, { cwd: dir, ...opts, env: { HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...opts.env } });
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (config !== undefined) project.writeConfig(config);
  return project;
}

/** Spawns `node bin/medic ...args` in `opts.cwd` (under faketime when `at` is given) and collects its output. */
export function medic(args: string[], opts: CliOptions & { cwd: string }): Promise<CliResult> {
  const { cwd } = opts;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', HOME: cwd, XDG_CONFIG_HOME: join(cwd, '.config') };
  for (const [name, value] of Object.entries(opts.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  if (opts.at !== undefined) {
    const at = typeof opts.at === 'number' ? opts.at : Date.parse(opts.at);
    Object.assign(env, clockEnv(at, { frozen: opts.frozen, speed: opts.speed }));
  }
  const once = () =>
    new Promise<CliResult & { pid: number }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 120_000);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, pid: child.pid! });
      });
    });
  return (async () => {
    let result = await once();
    // A pid reused after another test's kill -9 can meet that process's libfaketime leftovers.
    if (opts.at !== undefined && FAKETIME_SHM_CLASH.test(result.stderr)) {
      removeFaketimeShm(result.pid);
      result = await once();
    }
    const { pid: _pid, ...rest } = result;
    return rest;
  })();
}

/** `medic status --json` rows by slug (throws unless the command succeeded). */
export async function statusBySlug(project: Project, opts: CliOptions = {}): Promise<Map<string, any>> {
  const res = await project.run(['status', '--json'], opts);
  if (res.code !== 0) throw new Error(`medic status --json exited ${res.code}: ${res.stderr}`);
  const rows = JSON.parse(res.stdout) as { slug: string }[];
  return new Map(rows.map((r) => [r.slug, r]));
}
