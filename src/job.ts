/**
 * The job `medic run` wraps: spawned without a shell, its output streamed through unchanged while
 * a bounded tail of it is kept, signals forwarded, a timeout enforced. The only module that starts
 * processes (node:child_process); it never touches `process` (cli.ts hands it `kill`).
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/** Where the job's output goes (process.stdout, process.stderr): `write` returning false means wait for 'drain'. */
export type Sink = Pick<Writable, 'write' | 'once' | 'on' | 'off'>;

export interface JobOptions {
  /** The command and its arguments, passed to execvp as they are. */
  argv: readonly [string, ...string[]];
  env: NodeJS.ProcessEnv;
  /** TERM after this long (then KILL `killAfterMs` later); null: no limit. */
  timeoutMs: number | null;
  killAfterMs: number;
  /** How many bytes of the combined output to keep (the most the caller may ask `OutputTail.text` for). */
  tailCapacity: number;
  stdout: Sink;
  stderr: Sink;
  /** process.kill: a negative pid is the job's process group. */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  monotonic: () => number;
}

export interface JobResult {
  /** What `medic run` exits with: the job's own code, 128+n for a death by signal n, 124 after a timeout, 126/127 when it could not start. */
  exitCode: number;
  durationMs: number;
  tail: OutputTail;
  timedOut: boolean;
  /** When the command could not be started: "command not found", "Permission denied", ... */
  notStarted: string | null;
}

export interface RunningJob {
  /** Passes a signal medic received on to the job (its whole process group, as timeout(1) does). */
  forward(signal: NodeJS.Signals): void;
  done: Promise<JobResult>;
}

/** timeout(1)'s exit code for a command it had to stop. */
export const TIMEOUT_EXIT = 124;
/** The shell's codes (POSIX 2.8.2): found but could not be executed; not found. */
export const CANNOT_EXECUTE_EXIT = 126;
export const NOT_FOUND_EXIT = 127;
/**
 * After the job exited, how long its output may take to end. A process it left in the background
 * can hold the pipes open for ever (cron itself would wait; Go's exec.Cmd.WaitDelay is the same
 * bound): past this, medic stops reading and finishes.
 */
export const OUTPUT_GRACE_MS = 1000;

/**
 * Starts the job. It runs in a process group of its own (a new session: Node's `detached`), so a
 * signal forwarded or sent on timeout reaches what it started too, and a Ctrl-C at a terminal
 * reaches it once (through medic) rather than twice.
 */
export function startJob(opts: JobOptions): RunningJob {
  const [command, ...args] = opts.argv;
  const tail = new OutputTail(opts.tailCapacity);
  const startedAt = opts.monotonic();
  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    child = spawn(command, args, { stdio: ['inherit', 'pipe', 'pipe'], env: opts.env, detached: true });
  } catch (err) {
    // Node throws (rather than emitting 'error') for the errors it does not expect at run time.
    const { exitCode, message } = spawnFailure(command, err as NodeJS.ErrnoException);
    return { forward: () => {}, done: Promise.resolve({ exitCode, durationMs: 0, tail, timedOut: false, notStarted: message }) };
  }
  let exited = false;
  let timedOut = false;
  const timers: NodeJS.Timeout[] = [];

  const signal = (sig: NodeJS.Signals) => {
    if (exited || child.pid === undefined) return;
    try {
      opts.kill(-child.pid, sig);
    } catch {
      // The group is gone (it cannot be while the child lives, but a kill must never throw here).
      child.kill(sig);
    }
  };
  if (opts.timeoutMs !== null) {
    timers.push(
      setTimeout(() => {
        timedOut = true;
        signal('SIGTERM');
        timers.push(setTimeout(() => signal('SIGKILL'), opts.killAfterMs));
      }, opts.timeoutMs),
    );
  }

  // Only the job itself: the writer cannot be known, and the job is the one a direct pipe would end.
  const brokenPipe = () => {
    if (!exited) child.kill('SIGPIPE');
  };
  const outputs = [pass(child.stdout, opts.stdout, tail, brokenPipe), pass(child.stderr, opts.stderr, tail, brokenPipe)];
  const done = new Promise<JobResult>((resolve) => {
    /** The job is over (exited, or never started): no more signals, no timeout; returns its duration. */
    const over = () => {
      exited = true;
      for (const t of timers) clearTimeout(t);
      return Math.max(0, Math.round(opts.monotonic() - startedAt));
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      // 'error' without a pid: it never started. (With a pid, a failed kill: ignored.)
      if (child.pid !== undefined || exited) return;
      const durationMs = over();
      for (const o of outputs) o.stop();
      const { exitCode, message } = spawnFailure(command, err);
      resolve({ exitCode, durationMs, tail, timedOut, notStarted: message });
    });
    child.once('exit', (code, sig) => {
      const durationMs = over();
      const exitCode = timedOut ? TIMEOUT_EXIT : code ?? 128 + (sig ? constants.signals[sig] : 0);
      // Output a process left behind still holds open is given OUTPUT_GRACE_MS; time spent waiting
      // for medic's own reader (a slow sink) does not count: what the job wrote is passed whole.
      let bound: NodeJS.Timeout;
      const arm = () => {
        bound = setTimeout(() => {
          if (outputs.map((o) => o.waitedOnSink()).some(Boolean)) arm();
          else for (const o of outputs) o.stop();
        }, OUTPUT_GRACE_MS);
      };
      arm();
      void Promise.all(outputs.map((o) => o.ended)).then(() => {
        clearTimeout(bound);
        resolve({ exitCode, durationMs, tail, timedOut, notStarted: null });
      });
    });
  });
  return { forward: signal, done };
}

/**
 * Copies one of the job's output pipes to `sink` byte for byte, into the tail too, pausing while
 * the sink is full. When the sink breaks (the reader of `medic run … | head` went away), the job's
 * next write gets it SIGPIPE, as without medic in between. (Closing the pipe instead would give it
 * ECONNRESET: Node's child pipes are socket pairs.)
 */
function pass(from: Readable, sink: Sink, tail: OutputTail, brokenPipe: () => void): { ended: Promise<void>; stop: () => void; waitedOnSink: () => boolean } {
  let stop = () => {};
  let broken = false;
  /** Paused for the sink now, or since the last time this was asked. */
  let waiting = false;
  let waited = false;
  const ended = new Promise<void>((resolve) => {
    const onDrain = () => {
      waiting = false;
      from.resume();
    };
    const onError = () => {
      broken = true;
      waiting = false;
      from.resume();
    };
    sink.on('error', onError);
    const end = () => {
      sink.off('error', onError);
      sink.off('drain', onDrain);
      resolve();
    };
    stop = () => {
      from.destroy();
      end();
    };
    from.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      if (broken) brokenPipe();
      else if (!sink.write(chunk)) {
        from.pause();
        waiting = waited = true;
        sink.once('drain', onDrain);
      }
    });
    from.once('close', end);
    from.on('error', () => {});
  });
  const waitedOnSink = () => {
    const answer = waiting || waited;
    waited = false;
    return answer;
  };
  return { ended, stop: () => stop(), waitedOnSink };
}

/** Why the command did not start, in the shell's words, and the shell's exit code for it. */
function spawnFailure(command: string, err: NodeJS.ErrnoException): { exitCode: number; message: string } {
  if (err.code === 'ENOENT') {
    return { exitCode: NOT_FOUND_EXIT, message: `${command}: ${command.includes('/') ? 'No such file or directory' : 'command not found'}` };
  }
  const reason = SPAWN_ERRORS[err.code ?? ''] ?? err.code ?? err.message;
  return { exitCode: CANNOT_EXECUTE_EXIT, message: `${command}: ${reason}` };
}

const SPAWN_ERRORS: Record<string, string> = {
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ENOEXEC: 'Exec format error',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
};

/**
 * The last `capacity` bytes of a byte stream, in a ring: memory stays bounded whatever the job
 * prints.
 */
export class OutputTail {
  private readonly ring: Buffer;
  private start = 0;
  private length = 0;
  /** Whether bytes were dropped from the front: the kept bytes may then begin inside a character. */
  private cut = false;

  constructor(readonly capacity: number) {
    this.ring = Buffer.alloc(capacity);
  }

  push(chunk: Uint8Array): void {
    const cap = this.capacity;
    if (cap === 0 || chunk.length === 0) {
      this.cut ||= chunk.length > 0;
      return;
    }
    if (chunk.length >= cap) {
      this.ring.set(chunk.subarray(chunk.length - cap));
      this.cut ||= chunk.length > cap || this.length > 0;
      this.start = 0;
      this.length = cap;
      return;
    }
    const end = (this.start + this.length) % cap;
    const first = Math.min(chunk.length, cap - end);
    this.ring.set(chunk.subarray(0, first), end);
    this.ring.set(chunk.subarray(first), 0);
    const overflow = this.length + chunk.length - cap;
    if (overflow > 0) {
      this.start = (this.start + overflow) % cap;
      this.length = cap;
      this.cut = true;
    } else {
      this.length += chunk.length;
    }
  }

  /** The kept bytes, oldest first. */
  bytes(): Buffer {
    const endOfFirst = Math.min(this.start + this.length, this.capacity);
    return Buffer.concat([this.ring.subarray(this.start, endOfFirst), this.ring.subarray(0, this.length - (endOfFirst - this.start))]);
  }

  /**
   * The last at most `maxBytes` bytes as text: never starting inside a character (the bytes of one
   * the cut went through are dropped), invalid bytes as U+FFFD, and at most `maxBytes` bytes once
   * encoded as UTF-8 (each U+FFFD takes 3).
   */
  text(maxBytes = this.capacity): string {
    let bytes = this.bytes();
    const limit = Math.max(0, Math.min(maxBytes, this.capacity));
    const cut = this.cut || bytes.length > limit;
    if (bytes.length > limit) bytes = bytes.subarray(bytes.length - limit);
    const text = decode(cut ? fromCharStart(bytes) : bytes);
    if (Buffer.byteLength(text) <= limit) return text;
    const encoded = Buffer.from(text);
    return decode(fromCharStart(encoded.subarray(encoded.length - limit)));
  }
}

/** Skips the continuation bytes (10xxxxxx) a cut left at the front: at most 3, the rest of one character. */
function fromCharStart(bytes: Buffer): Buffer {
  let i = 0;
  while (i < 3 && i < bytes.length && (bytes[i]! & 0xc0) === 0x80) i++;
  return bytes.subarray(i);
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}
