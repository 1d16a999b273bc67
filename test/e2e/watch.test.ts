/**
 * `medic status --watch` through a real pseudo-terminal: util-linux `script` runs the built binary
 * on a pty, the test types into it (q, Ctrl-C) and reads what the terminal was sent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ENTER, HOME_CLEAR, LEAVE } from '../../src/commands/watch.js';
import { BIN, tempProject, type Project } from '../helpers/cli.js';

let project: Project;
let running: ChildProcess | undefined;
afterEach(() => {
  running?.kill('SIGKILL');
  running = undefined;
  project?.remove();
});

interface Watching {
  child: ChildProcess;
  /** Everything the terminal was sent so far. */
  output(): string;
  /** Resolves once the output holds `text` (fails after a while, with the output). */
  waitFor(text: string, from?: number): Promise<number>;
  /** Types into the terminal. */
  type(text: string): void;
  exited: Promise<number | null>;
}

/**
 * `script -qfec "medic status --watch --interval 1s" /dev/null` in the project's folder; with
 * `stty`, the terminal's modes are printed once medic has ended (its exit code kept).
 */
function watchOnPty(p: Project, opts: { stty?: boolean } = {}): Watching {
  const medic = [process.execPath, BIN, 'status', '--watch', '--interval', '1s'].map((a) => `'${a}'`).join(' ');
  const command = opts.stty ? `${medic}; rc=$?; echo; echo "modes after: $(stty -a | tr '\\n' ' ')"; exit $rc` : medic;
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', HOME: p.home, SHELL: '/bin/sh', TERM: 'xterm', NO_COLOR: '1' };
  const child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: p.dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  running = child;
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stdin!.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    waitFor: async (text, from = 0) => {
      const until = Date.now() + 30_000;
      for (;;) {
        const at = out.indexOf(text, from);
        if (at >= 0) return at;
        if (Date.now() > until || child.exitCode !== null) throw new Error(`no ${JSON.stringify(text)} in the terminal's output:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    type: (text) => child.stdin!.write(text),
    exited,
  };
}

/** The pid of the medic process that runs under `script` (its child, or its shell's child). */
function medicUnder(scriptPid: number): number {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Field 4 of /proc/<pid>/stat, after the parenthesised command name.
      parentOf.set(Number(name), Number(readFileSync(join('/proc', name, 'stat'), 'utf8').replace(/^.*\) /s, '').split(' ')[1]));
    } catch {
      // Ended meanwhile.
    }
  }
  const descends = (pid: number): boolean => pid === scriptPid || (pid > 1 && parentOf.has(pid) && descends(parentOf.get(pid)!));
  for (const [pid] of parentOf) {
    if (pid === scriptPid || !descends(pid)) continue;
    try {
      // node itself, not the shell whose command line names it.
      if (readFileSync(join('/proc', String(pid), 'cmdline'), 'utf8').split('\0')[1] === BIN) return pid;
    } catch {
      // Ended meanwhile.
    }
  }
  throw new Error('no medic process under script');
}

const CONFIG = {
  targets: { oncall: { type: 'pagerduty', eventsUrl: 'http://127.0.0.1:9/v2/enqueue' } },
  defaults: { interval: '5m', grace: '1m' },
  services: [{ slug: 'api' }, { slug: 'db' }],
};

describe('medic status --watch', { timeout: 120_000 }, () => {
  it('shows an unreadable database and keeps trying, then the table, marks a change, and on q restores the terminal and exits 0', async () => {
    project = tempProject({ ...CONFIG, database: 'medic.db' });
    writeFileSync(join(project.dir, 'medic.db'), 'not a database, not a database, not a database\n');
    const w = watchOnPty(project, { stty: true });
    // The view says what is wrong and the watch goes on; once the file is a database, the table comes.
    await w.waitFor(`cannot read the state: ${join(project.dir, 'medic.db')} is not a Medic database`);
    await w.waitFor('trying again every 1s');
    rmSync(join(project.dir, 'medic.db'));
    expect((await project.run(['beat', 'db'])).code).toBe(0);
    const table = await w.waitFor('no change since the watch began');
    await w.waitFor('api      new', table);
    expect((await project.run(['beat', 'api'])).code).toBe(0);
    const change = await w.waitFor('changed: api new → up', table);
    await w.waitFor('* api      up', change);
    w.type('q');
    expect(await w.exited).toBe(0);
    const out = w.output();
    expect(out.startsWith(ENTER)).toBe(true);
    expect(out).toContain(`${HOME_CLEAR}medic status --watch · `);
    expect(out).toContain(`${project.configPath} · every 1s · q or Ctrl-C to quit`);
    // The cursor shown and the alternate screen left come last, after the change.
    expect(out.lastIndexOf(LEAVE)).toBeGreaterThan(change);
    expect(out.slice(out.lastIndexOf(HOME_CLEAR)).split(LEAVE)[1]!.trim()).toMatch(/^modes after: /);
    // Raw mode is off again: the line discipline echoes and reads lines, Ctrl-C is a signal.
    const modes = out.slice(out.indexOf('modes after: ')).split(/\s+/);
    for (const mode of ['icanon', 'echo', 'isig', 'icrnl']) expect(modes).toContain(mode);
  });

  it('Ctrl-C typed on the terminal ends it with exit 0, the terminal restored', async () => {
    project = tempProject(CONFIG);
    expect((await project.run(['beat', 'api'])).code).toBe(0);
    const w = watchOnPty(project);
    await w.waitFor('api      up');
    w.type('\u0003');
    expect(await w.exited).toBe(0);
    expect(w.output().trimEnd().endsWith(LEAVE)).toBe(true);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('%s ends it with exit 0, the terminal restored', async (signal) => {
    project = tempProject(CONFIG);
    expect((await project.run(['beat', 'api'])).code).toBe(0);
    const w = watchOnPty(project);
    await w.waitFor('api      up');
    process.kill(medicUnder(w.child.pid!), signal);
    expect(await w.exited).toBe(0);
    expect(w.output().trimEnd().endsWith(LEAVE)).toBe(true);
  });

  it.each<[string, string[], RegExp]>([
    ['not on a terminal', ['status', '--watch'], /--watch needs a terminal; use medic status, or --json/],
    ['an interval under 1s', ['status', '--watch', '--interval', '500ms'], /--interval 500ms is not a duration of at least 1s/],
    ['with --json', ['status', '--watch', '--json'], /--watch and --json cannot be given together/],
  ])('is refused with exit 64 %s', async (_name, args, message) => {
    project = tempProject(CONFIG);
    const r = await project.run(args);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });
});
