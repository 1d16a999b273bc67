/**
 * Fault injection for test/faults: the real `bin/medic` spawned as one killable process (under
 * libfaketime when a test sets the clock), a loopback TCP proxy in front of the PagerDuty stand-in
 * (slow answers, refused connections), the CLI run in-process with an injected clock, a seeded
 * random source, and storage made read-only or full in ways that hold for root, undone when the
 * test finishes.
 *
 * Node builtins only (plus vitest's onTestFinished).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync, chmodSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { clockEnv, FAKETIME_SHM_CLASH, removeFaketimeShm } from './clock.js';

export const BIN = fileURLToPath(new URL('../../bin/medic', import.meta.url));

/** The PagerDuty guide's example routing key: the only key these tests use. */
export const KEY = 'a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6';

export const MIN = 60_000;

/** A temp folder for one test file; remove it in afterAll (after every mount on it is undone). */
export function fileTempDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `medic-faults-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** mulberry32: a small seeded generator, so every "random" case can be replayed from its seed. */
export function rng(seed: number): { next(): number; int(lo: number, hi: number): number; pick<T>(items: readonly T[]): T } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, pick: (items) => items[int(0, items.length - 1)]! };
}

// ---------------------------------------------------------------------------------------------
// The real binary

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  /** With `gate`: Node has started and waits at the gate. */
  ready: Promise<void>;
  done: Promise<Exit>;
  /** true once the process has exited, whatever the reason. */
  readonly exited: boolean;
  /** kill -9 this process (only it: the faketime preload keeps it one process). */
  kill(): void;
}

export interface SpawnOptions {
  cwd: string;
  env?: Record<string, string>;
  /** Start the wall clock at this instant (whole seconds, epoch ms); it runs on from there. */
  at?: number;
  /** Called with each chunk of stdout as it arrives (stdout to a pipe is synchronous on Linux). */
  onStdout?: (text: string) => void;
  /** A command that runs node, e.g. `['prlimit', '--fsize=1']`. */
  prefix?: string[];
  /**
   * Start Node, then hold it before it loads medic until this settles: several runs released
   * together reach the database at (nearly) the same instant instead of one start-up apart.
   */
  gate?: Promise<void>;
}

/** The environment that starts a process's wall clock at `at` (UTC) and lets it run on. */
export function faketimeEnv(at: number): Record<string, string> {
  if (at % 1000 !== 0) throw new Error(`faketime needs a whole second, got ${at}`);
  return { ...clockEnv(at), TZ: 'UTC' };
}

/** `node -e GATE bin/medic args`: says "ready", waits for a line on stdin, then runs bin/medic. */
const GATE = `
process.stdout.write('ready\\n');
process.stdin.once('data', () => {
  process.stdin.destroy();
  import(require('node:url').pathToFileURL(process.argv[1]).href);
});
`;

/** Spawns `node bin/medic ...args` with a clean environment (nothing from this machine leaks in). */
export function spawnMedic(args: string[], opts: SpawnOptions): Spawned {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TZ: 'UTC',
    NO_COLOR: '1',
    HOME: opts.cwd,
    XDG_CONFIG_HOME: join(opts.cwd, '.config'),
    ...(opts.at !== undefined ? faketimeEnv(opts.at) : {}),
    ...opts.env,
  };
  const node = opts.gate ? [process.execPath, '-e', GATE, BIN] : [process.execPath, BIN];
  const [command, ...argv] = [...(opts.prefix ?? []), ...node, ...args];
  let child: ReturnType<typeof spawn>;
  let exited = false;
  let isReady: () => void;
  const ready = new Promise<void>((resolve) => (isReady = resolve));
  if (!opts.gate) isReady!();
  const once = () =>
    new Promise<Exit>((resolve, reject) => {
      child = spawn(command!, argv, { cwd: opts.cwd, env, stdio: [opts.gate ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let gated = opts.gate !== undefined;
      child.stdout!.setEncoding('utf8').on('data', (s: string) => {
        if (gated && s.startsWith('ready\n')) {
          gated = false;
          s = s.slice('ready\n'.length);
          const waiting = child;
          isReady();
          void opts.gate!.then(() => waiting.stdin!.end('go\n'));
        }
        stdout += s;
        opts.onStdout?.(s);
      });
      child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      // A safety net against a hung child, not an assertion.
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      child.once('error', reject);
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (signal && opts.at !== undefined) removeFaketimeShm(child.pid!);
        resolve({ code, signal, stdout, stderr });
      });
    });
  const done = (async () => {
    try {
      for (let attempt = 1; ; attempt++) {
        const exit = await once();
        // Stale files of some earlier killed process: libfaketime refused to start; medic never ran.
        if (exit.code === 1 && FAKETIME_SHM_CLASH.test(exit.stderr) && attempt < 5) continue;
        return exit;
      }
    } finally {
      exited = true;
      isReady!(); // a run that never reached the gate must not leave its caller waiting
    }
  })();
  return {
    ready,
    done,
    get exited() {
      return exited;
    },
    kill: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };
}

/** Runs the real binary to the end. */
export function medic(args: string[], opts: SpawnOptions): Promise<Exit> {
  return spawnMedic(args, opts).done;
}

// ---------------------------------------------------------------------------------------------
// The CLI in-process, for many cases or an injected clock

export interface InProcess {
  code: number;
  stdout: string;
  stderr: string;
}

/** `main(argv, env, io, overrides)` from src/cli.ts, with its output collected. */
export async function inProcess(
  argv: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; now?: () => number; sleep?: (ms: number) => Promise<void> },
): Promise<InProcess> {
  const { main } = await import('../../src/cli.js');
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (s: string) => ((stdout += s), true) },
    stderr: { write: (s: string) => ((stderr += s), true) },
    cwd: opts.cwd,
  };
  const overrides = { ...(opts.now && { now: opts.now }), ...(opts.sleep && { sleep: opts.sleep }) };
  const code = await main(argv, opts.env, io, overrides);
  return { code, stdout, stderr };
}

/** A Node stack frame ("    at fn (file:line:col)"): never part of a message a user can cause. */
export const STACK_FRAME = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m;

// ---------------------------------------------------------------------------------------------
// A TCP proxy in front of the stand-in: slow answers, refused connections

export interface Proxy {
  /** The stand-in's URL, through the proxy. */
  url: string;
  /** Start accepting connections on the proxy's port. */
  open(): Promise<void>;
  /** Stop listening and drop every connection: new connections are refused. */
  shut(): Promise<void>;
  close(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Forwards bytes to `upstreamUrl`'s host and port. With `delayMs`, every chunk of the answer is
 * held back that long (order kept): the stand-in has already counted the request as accepted while
 * medic is still waiting, which is PagerDuty's real "202 sent, not yet received" window.
 * `open: false` starts it shut (connections refused).
 */
export async function startProxy(upstreamUrl: string, opts: { delayMs?: () => number; open?: boolean } = {}): Promise<Proxy> {
  const upstream = new URL(upstreamUrl);
  const port = await freePort();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((client) => {
    const up = createConnection(Number(upstream.port), upstream.hostname);
    const dropBoth = () => {
      client.destroy();
      up.destroy();
    };
    for (const s of [client, up]) {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', dropBoth);
    }
    let releaseAt = 0;
    const later = (fn: () => void) => {
      releaseAt = Math.max(releaseAt, Date.now() + (opts.delayMs?.() ?? 0));
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!client.destroyed) fn();
      }, releaseAt - Date.now());
      timers.add(timer);
    };
    client.on('data', (chunk) => up.write(chunk));
    client.once('end', () => up.end());
    client.once('close', () => up.destroy());
    up.on('data', (chunk) => later(() => client.write(chunk)));
    up.once('close', () => later(() => client.end()));
  });
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const shut = () =>
    new Promise<void>((resolve) => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  if (opts.open !== false) await listen();
  return { url: `http://127.0.0.1:${port}${upstream.pathname}`, open: listen, shut, close: shut };
}

// ---------------------------------------------------------------------------------------------
// Storage faults that hold for root (tests run as root, CI too; permission bits do not stop root)

function succeeds(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

function unmount(path: string): void {
  if (!succeeds('umount', [path])) succeeds('umount', ['-l', path]);
}

/** Mounts a tmpfs of `bytes` on `dir`; false where mounting is not allowed. Unmounted when the test finishes. */
export function mountTmpfs(dir: string, bytes: number): boolean {
  if (!succeeds('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir])) return false;
  undoAtEnd(() => unmount(dir));
  return true;
}

/** Writes zeros into `file` until the file system says it is full. */
export function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd);
  }
  // The last pages a smaller write could still use.
  const fd2 = openSync(file, 'a');
  try {
    for (;;) writeSync(fd2, Buffer.alloc(64));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    closeSync(fd2);
  }
}

function isWritable(path: string): boolean {
  try {
    if (statSync(path).isDirectory()) {
      const probe = join(path, `.probe-${process.pid}`);
      writeFileSync(probe, '');
      unlinkSync(probe);
    } else {
      closeSync(openSync(path, 'r+'));
    }
    return true;
  } catch {
    return false;
  }
}

/** Registers `undo` to run when the test finishes and returns it, made safe to call twice. */
function undoAtEnd(undo: () => void): () => void {
  let done = false;
  const once = () => {
    if (!done) {
      done = true;
      undo();
    }
  };
  onTestFinished(once);
  return once;
}

export interface ReadOnly {
  how: 'read-only bind mount' | 'chattr +i' | 'chmod';
  /** Makes it writable again (also done when the test finishes, passed or failed). */
  undo(): void;
}

/**
 * Makes a file or folder read-only for everyone, root included. Tries, in order: a read-only bind
 * mount of the path onto itself, `chattr +i` (immutable; needs a file system that supports it),
 * and plain permission bits (enough when the tests do not run as root). Each is checked with a
 * write probe.
 */
export function makeReadOnly(path: string): ReadOnly {
  if (succeeds('mount', ['--bind', path, path])) {
    if (succeeds('mount', ['-o', 'remount,bind,ro', path]) && !isWritable(path)) {
      return { how: 'read-only bind mount', undo: undoAtEnd(() => unmount(path)) };
    }
    unmount(path);
  }
  if (succeeds('chattr', ['+i', path])) {
    const undo = undoAtEnd(() => void succeeds('chattr', ['-i', path]));
    if (!isWritable(path)) return { how: 'chattr +i', undo };
    undo();
  }
  const mode = statSync(path).mode & 0o777;
  chmodSync(path, mode & 0o555);
  const undo = undoAtEnd(() => chmodSync(path, mode));
  if (!isWritable(path)) return { how: 'chmod', undo };
  undo();
  throw new Error(`cannot make ${path} read-only here (no bind mount, no chattr, and permission bits do not stop this user)`);
}
