/**
 * `medic run <slug> [--timeout <d>] -- <command...>` through the real binary: the job's exit code,
 * signals, timeout, output passed through byte for byte with its tail recorded, arguments untouched,
 * and monitoring that never breaks the job (unknown slug, broken or missing config, unwritable
 * database). What was recorded is read back with `medic history --json`.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, tempProject, type Project } from '../helpers/cli.js';
import { GUIDE_EXAMPLE_KEY } from '../fixtures/pagerduty.js';
import { makeReadOnly } from '../helpers/faults.js';

const CONFIG = { services: [{ slug: 'nightly-backup', interval: '24h', grace: '30m' }] };
const SLUG = 'nightly-backup';
const TAIL_BYTES = 4096; // OUTPUT_TAIL_DEFAULT_BYTES

let project: Project;
afterEach(() => project?.remove());

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
  /** When the last stdout chunk arrived, on the same clock as `ms`. */
  lastOutputMs: number;
}

/**
 * Spawns `bin/medic` in the project folder with the base environment of test/helpers/cli.ts, keeping
 * stdout as bytes; `onStdout` sees each chunk (and may signal medic through `pid`).
 */
function start(args: string[], opts: { onStdout?: (chunk: Buffer, pid: number) => void; env?: Record<string, string>; stdin?: string } = {}): Promise<Run> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', NO_COLOR: '1', HOME: project.home, XDG_CONFIG_HOME: join(project.home, '.config'), ...opts.env };
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd: project.dir, env, stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    child.stdin?.end(opts.stdin);
    const out: Buffer[] = [];
    let stderr = '';
    let lastOutputMs = 0;
    child.stdout!.on('data', (chunk: Buffer) => {
      out.push(chunk);
      lastOutputMs = performance.now() - began;
      opts.onStdout?.(chunk, child.pid!);
    });
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000); // a safety net, not an assertion
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr, ms: performance.now() - began, lastOutputMs });
    });
  });
}

const run = (command: string[], opts: { before?: string[]; env?: Record<string, string> } = {}) => start(['run', ...(opts.before ?? []), SLUG, '--', ...command], { env: opts.env });

/** The runs `medic history --json` shows: starts, failures and successes with their details. */
async function runs(): Promise<{ signal: string; exitCode: number | null; durationMs: number | null; message: string | null; outputTail: string | null }[]> {
  const res = await project.run(['history', SLUG, '--json']);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout).events.filter((e: { kind: string }) => e.kind === 'signal');
}

describe('medic run', { timeout: 120_000 }, () => {
  it.each([
    [0, 'ok'],
    [1, 'fail'],
    [3, 'fail'],
    [255, 'fail'],
  ])('exits with the job’s own code %i and records a start, then %s with it', async (code, kind) => {
    project = tempProject(CONFIG);
    const res = await run(['sh', '-c', `echo working; exit ${code}`]);
    expect({ code: res.code, stdout: res.stdout.toString(), stderr: res.stderr }).toEqual({ code, stdout: 'working\n', stderr: '' });
    const [begun, ended, ...rest] = await runs();
    expect(rest).toEqual([]);
    expect(begun).toMatchObject({ signal: 'start', exitCode: null, outputTail: null });
    expect(ended).toMatchObject({ signal: kind, exitCode: code, outputTail: 'working\n', durationMs: expect.any(Number) });
  });

  it('a success counts as the service’s beat', async () => {
    project = tempProject(CONFIG);
    expect((await run(['true'])).code).toBe(0);
    const status = await project.run(['status', '--json']);
    expect(JSON.parse(status.stdout)[0]).toMatchObject({ slug: SLUG, state: 'up', lastSeen: expect.any(String) });
  });

  it.each([
    ['KILL', 137],
    ['TERM', 143],
  ])('a job that dies by SIG%s exits 128+n (%i), recorded as a failure', async (signal, code) => {
    project = tempProject(CONFIG);
    const res = await run(['sh', '-c', `kill -${signal} $$`]);
    expect(res.code).toBe(code);
    expect(res.signal).toBeNull();
    expect((await runs()).at(-1)).toMatchObject({ signal: 'fail', exitCode: code });
  });

  it('--timeout stops the job (TERM), records a failure with exit code 124 and exits 124', async () => {
    project = tempProject(CONFIG);
    const res = await run(['sleep', '30'], { before: ['--timeout', '1s'] });
    expect(res.code).toBe(124);
    expect(res.ms).toBeLessThan(10_000);
    expect(res.stderr).toBe('medic run: sleep: timed out after 1s (medic run --timeout)\n');
    const ended = (await runs()).at(-1)!;
    // The run's message tells medic's timeout from a job that itself exits 124.
    expect(ended).toMatchObject({ signal: 'fail', exitCode: 124, message: 'sleep: timed out after 1s (medic run --timeout)' });
    expect(ended.durationMs).toBeGreaterThanOrEqual(1000);
    expect(ended.durationMs).toBeLessThan(10_000);
  });

  it('--timeout: a job that ignores TERM gets KILL 5 s later; still 124', async () => {
    project = tempProject(CONFIG);
    const res = await run(['sh', '-c', 'trap "echo TERM ignored" TERM; echo started; while :; do sleep 0.1; done'], { before: ['--timeout', '1s'] });
    expect(res.code).toBe(124);
    expect(res.stdout.toString()).toMatch(/^started\n(TERM ignored\n)+$/);
    expect(res.ms).toBeGreaterThanOrEqual(6000);
    expect(res.ms).toBeLessThan(20_000);
    expect((await runs()).at(-1)).toMatchObject({ signal: 'fail', exitCode: 124 });
  });

  it.each([
    ['SIGTERM', 'TERM'],
    ['SIGINT', 'INT'],
    ['SIGHUP', 'HUP'],
  ] as const)('forwards %s to the job and exits as the job did', async (signal, name) => {
    project = tempProject(CONFIG);
    let sent = false;
    const res = await start(['run', SLUG, '--', 'sh', '-c', `trap "echo got ${name}; exit 7" ${name}; echo ready; while :; do sleep 0.1; done`], {
      onStdout: (chunk, pid) => {
        if (!sent && chunk.toString().includes('ready')) {
          sent = true;
          process.kill(pid, signal);
        }
      },
    });
    expect({ code: res.code, signal: res.signal, stdout: res.stdout.toString() }).toEqual({ code: 7, signal: null, stdout: `ready\ngot ${name}\n` });
    expect((await runs()).at(-1)).toMatchObject({ signal: 'fail', exitCode: 7 });
  });

  it('a job that a forwarded SIGTERM ends exits 143', async () => {
    project = tempProject(CONFIG);
    const res = await start(['run', SLUG, '--', 'sh', '-c', 'echo ready; exec sleep 30'], {
      onStdout: (_chunk, pid) => process.kill(pid, 'SIGTERM'),
    });
    expect({ code: res.code, signal: res.signal }).toEqual({ code: 143, signal: null });
  });

  it('passes 1 MiB of output through byte for byte and records only its last bytes', async () => {
    project = tempProject(CONFIG);
    const lines = Array.from({ length: 140_000 }, (_, i) => `line ${i + 1}`).join('\n');
    const expected = Buffer.from(`${lines}\n`);
    expect(expected.length).toBeGreaterThan(1024 * 1024);
    const res = await run(['seq', '-f', 'line %.0f', '1', '140000']);
    expect(res.code).toBe(0);
    expect(res.stdout.equals(expected)).toBe(true);
    const ended = (await runs()).at(-1)!;
    expect(ended.outputTail).toBe(expected.subarray(expected.length - TAIL_BYTES).toString());
  });

  it.each([
    ['the service\'s own outputTail', { services: [{ slug: SLUG, interval: '24h', outputTail: 10 }] }, 'line 140000\n'.slice(-10)],
    ['defaults.outputTail', { defaults: { outputTail: 7 }, services: [{ slug: SLUG, interval: '24h' }] }, '140000\n'],
    ['outputTail 0: no tail kept', { defaults: { outputTail: 5 }, services: [{ slug: SLUG, interval: '24h', outputTail: 0 }] }, null],
  ])('keeps the tail size the config gives: %s', async (_, config, tail) => {
    project = tempProject(config);
    const res = await run(['seq', '-f', 'line %.0f', '1', '140000']);
    expect(res.code).toBe(0);
    expect((await runs()).at(-1)!.outputTail).toBe(tail);
  });

  describe('a routing key the job prints is never kept', () => {
    const KEY = GUIDE_EXAMPLE_KEY;
    const fragments = (text: string) => Array.from({ length: KEY.length - 11 }, (_, i) => KEY.slice(i, i + 12)).filter((f) => text.toLowerCase().includes(f.toLowerCase()));

    it('not even in part, when the cut of the tail falls inside it', async () => {
      project = tempProject(CONFIG);
      const res = await run(['sh', '-c', `printf %s "$PAGERDUTY_ROUTING_KEY"; head -c ${TAIL_BYTES - 31} /dev/zero | tr "\\0" x; exit 1`], { env: { PAGERDUTY_ROUTING_KEY: KEY } });
      expect(res.code).toBe(1);
      const tail = (await runs()).at(-1)!.outputTail!;
      expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(TAIL_BYTES);
      expect(fragments(tail)).toEqual([]);
    });

    it.each([
      ['from a routingKeyFile of the config', (dir: string) => `cat ${join(dir, 'pd.key')}`],
      ['upper-cased', (dir: string) => `tr a-z A-Z < ${join(dir, 'pd.key')}`],
    ])('%s', async (_, print) => {
      project = tempProject({ targets: { oncall: { type: 'pagerduty', routingKeyFile: 'pd.key' } }, services: CONFIG.services });
      writeFileSync(join(project.dir, 'pd.key'), `${KEY}\n`, { mode: 0o600 });
      const res = await run(['sh', '-c', `echo "key: $(${print(project.dir)})"; exit 1`]);
      expect(res.code).toBe(1);
      const tail = (await runs()).at(-1)!.outputTail!;
      expect(tail).toMatch(/^key: a1b2…o5p6\n$/i);
      expect(fragments(tail)).toEqual([]);
      // Not stored either (history hides keys too, so look at the database's bytes).
      for (const file of readdirSync(project.dir).filter((f) => f.startsWith('medic.db'))) expect(fragments(readFileSync(join(project.dir, file), 'latin1'))).toEqual([]);
    });
  });

  it('passes binary output through unchanged; the tail holds it as text with U+FFFD for invalid bytes', async () => {
    project = tempProject(CONFIG);
    const file = join(project.dir, 'binary');
    const bytes = Buffer.from(Array.from({ length: 4 * 256 }, (_, i) => i % 256));
    writeFileSync(file, bytes);
    const res = await run(['cat', file]);
    expect(res.code).toBe(0);
    expect(res.stdout.equals(bytes)).toBe(true);
    const tail = (await runs()).at(-1)!.outputTail!;
    expect(tail).toBe(new TextDecoder().decode(bytes));
    expect(tail).toContain('\ufffd');
  });

  it('keeps the order of each stream, and both in the tail', async () => {
    project = tempProject(CONFIG);
    const res = await run(['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo "out $i"; echo "err $i" >&2; done']);
    const numbers = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    expect(res.stdout.toString()).toBe(numbers(3000).map((i) => `out ${i}\n`).join(''));
    expect(res.stderr).toBe(numbers(3000).map((i) => `err ${i}\n`).join(''));
    const tail = (await runs()).at(-1)!.outputTail!.split('\n').slice(1, -1);
    for (const stream of ['out', 'err']) {
      const seen = tail.filter((l) => l.startsWith(stream)).map((l) => Number(l.split(' ')[1]));
      expect(seen.length).toBeGreaterThan(0);
      expect(seen).toEqual(numbers(seen.length).map((i) => i + seen[0]! - 1));
      expect(seen.at(-1)).toBe(3000);
    }
  });

  it('passes arguments untouched: no shell, no globbing, no variables, medic’s own options included', async () => {
    project = tempProject(CONFIG);
    const args = ['a b', '"double"', "'single'", '*', '$HOME', '${PATH}', '`id`', '$(id)', '', '--', '--timeout', '1s', '-c', 'x.json', '--help', 'a\\b', ';', '|', '>out'];
    const res = await run(['printf', '<%s>\\n', ...args]);
    expect(res.code).toBe(0);
    expect(res.stdout.toString()).toBe(args.map((a) => `<${a}>\n`).join(''));
    expect(res.stderr).toBe('');
  });

  it('gives the job medic’s stdin', async () => {
    project = tempProject(CONFIG);
    const res = await start(['run', SLUG, '--', 'tr', 'a-z', 'A-Z'], { stdin: 'piped in\n' });
    expect({ code: res.code, stdout: res.stdout.toString() }).toEqual({ code: 0, stdout: 'PIPED IN\n' });
  });

  it.each([
    ['a command not on PATH', 127, () => 'no-such-command-xyz', 'medic run: no-such-command-xyz: command not found\n'],
    ['a file without execute permission', 126, (p: Project) => (writeFileSync(join(p.dir, 'job.sh'), '#!/bin/sh\necho never\n', { mode: 0o644 }), join(p.dir, 'job.sh')), (p: Project) => `medic run: ${join(p.dir, 'job.sh')}: Permission denied\n`],
  ])('%s: exits %i with a message, and the run is recorded as failed', async (_what, code, command, message) => {
    project = tempProject(CONFIG);
    const res = await run([command(project)]);
    expect({ code: res.code, stdout: res.stdout.toString(), stderr: res.stderr }).toEqual({
      code,
      stdout: '',
      stderr: typeof message === 'string' ? message : message(project),
    });
    // What medic said is the run's message (history, the page), so on-call sees which command could not run.
    const said = res.stderr.replace(/^medic run: /, '').replace(/\n$/, '');
    expect((await runs()).at(-1)).toMatchObject({ signal: 'fail', exitCode: code, message: said });
  });

  describe('monitoring never breaks the job', () => {
    const JOB = ['sh', '-c', 'echo ran; exit 5'];
    const expectJobRan = (res: Run, warning: RegExp) => {
      expect(res.code).toBe(5);
      expect(res.stdout.toString()).toBe('ran\n');
      // Said once (the start and the end fail the same way); a message of several lines (a JSON
      // error's excerpt) keeps them, each line with the prefix, none with a raw control character.
      expect(res.stderr).toMatch(/^medic run: not monitored: [^\n]*\n(medic run: [^\n]*\n)*$/);
      expect(res.stderr.match(/not monitored/g)).toHaveLength(1);
      expect(res.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f]|\\n/);
      expect(res.stderr).toMatch(warning);
    };

    it('unknown slug: the job runs, one warning with the suggestion, the job’s exit code', async () => {
      project = tempProject(CONFIG);
      const res = await start(['run', 'nightly-bakup', '--', ...JOB]);
      expectJobRan(res, /unknown service 'nightly-bakup' — did you mean 'nightly-backup'\?/);
    });

    it('config that does not parse: the job runs, one warning, the job’s exit code', async () => {
      project = tempProject();
      writeFileSync(project.configPath, '{ "services": [ ');
      expectJobRan(await run(JOB), /medic\.config\.json/);
    });

    it('config that does not parse on a line holding a routing key: the warning does not show the key', async () => {
      project = tempProject();
      writeFileSync(project.configPath, `{ "services": [{ "slug": "${SLUG}" }],\n  "targets": { "oncall": { "routingKey": "${GUIDE_EXAMPLE_KEY}", } } }\n`);
      const res = await run(JOB, { env: { PAGERDUTY_ROUTING_KEY: GUIDE_EXAMPLE_KEY } });
      expectJobRan(res, /not valid JSON/);
      expect(res.stderr).not.toContain(GUIDE_EXAMPLE_KEY);
    });

    it('no config at all: the job runs, one warning, the job’s exit code', async () => {
      project = tempProject();
      rmSync(project.configPath, { force: true });
      expectJobRan(await run(JOB), /config/i);
    });

    it('database that cannot be written: the job runs, one warning, the job’s exit code', async () => {
      project = tempProject(CONFIG);
      expect((await project.run(['beat', SLUG])).code).toBe(0);
      const db = join(project.dir, 'medic.db');
      const before = readFileSync(db);
      const readOnly = makeReadOnly(db);
      const res = await run(JOB);
      expectJobRan(res, /medic\.db|database/i);
      expect(readFileSync(db).equals(before), `made read-only by ${readOnly.how}`).toBe(true);
      readOnly.undo();
    });

    it('a config that never finishes loading: the job’s exit code all the same, within the recording bound', async () => {
      project = tempProject();
      const config = join(project.dir, 'medic.config.mjs');
      writeFileSync(config, `export default await new Promise((resolve) => setTimeout(() => resolve(${JSON.stringify(CONFIG)}), 600_000));\n`);
      const res = await run(JOB, { before: ['--config', config] });
      expectJobRan(res, /did not finish within 5s/);
      expect(res.ms).toBeLessThan(20_000);
    });
  });

  it('exits as soon as the end is recorded (no lingering)', async () => {
    project = tempProject(CONFIG);
    const res = await run(['sh', '-c', 'echo last']);
    expect(res.code).toBe(0);
    // cli.ts gives a settled command up to 1.5 s before it ends it; a run must not need it.
    expect(res.ms - res.lastOutputMs).toBeLessThan(1450);
  });

  it('a reader that goes away (`| head`): the job gets SIGPIPE as it would without medic', async () => {
    project = tempProject(CONFIG);
    const res = await new Promise<{ code: number | null }>((resolve) => {
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TZ: 'UTC', HOME: project.home };
      const child = spawn(process.execPath, [BIN, 'run', SLUG, '--', 'yes'], { cwd: project.dir, env, stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.once('data', () => child.stdout.destroy());
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code });
      });
    });
    expect(res.code).toBe(141);
  });

  it.each([
    [['run', SLUG, 'true'], /put -- between the slug and the command/],
    [['run', '--timeout', 'soon', SLUG, '--', 'sh', '-c', 'echo ran'], /--timeout: expected a duration/],
    [['run', '--timeout', '0s', SLUG, '--', 'sh', '-c', 'echo ran'], /--timeout: expected a duration/],
    // Node's timers hold at most 2^31-1 ms: a longer one would fire at once and kill the job.
    [['run', '--timeout', '30d', SLUG, '--', 'sh', '-c', 'echo ran'], /--timeout: at most 24d/],
  ])('medic %j is a usage error (64): the job does not run', async (args, message) => {
    project = tempProject(CONFIG);
    const res = await start(args);
    expect(res.code).toBe(64);
    expect(res.stdout.toString()).toBe('');
    expect(res.stderr).toMatch(message);
  });
});
