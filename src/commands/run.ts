import { parseDuration } from '../core/duration.js';
import { OUTPUT_TAIL_MAX_BYTES, type SignalDetails, type SignalKind } from '../core/signal.js';
import { EXIT, isMedicError, redactKnownKeys, UsageError } from '../errors.js';
import { tailUtf8 } from '../core/signal-bounds.js';
import { type Sink, startJob } from '../job.js';
import { beat, type BeatDeps } from './beat.js';

export interface RunDeps extends BeatDeps {
  stdout: Sink;
  stderr: Sink;
  monotonic: () => number;
  /** process.kill (a negative pid: a process group). */
  kill: (pid: number, signal: NodeJS.Signals) => void;
  /** Calls `forward` with each SIGINT, SIGTERM and SIGHUP medic receives (instead of ending medic); returns the unsubscribe. */
  onSignal: (forward: (signal: NodeJS.Signals) => void) => () => void;
  /** The service's `outputTail` (bytes kept of the combined output). */
  outputTailBytes: (slug: string) => Promise<number>;
  /** Routing keys this process can see (environment, the config's key files), hidden in the output kept. */
  keysToHide: () => Promise<string[]>;
  /** One line on stderr, as `medic run: <text>`. */
  say: (text: string) => void;
  /** One line on stderr saying why this run is not (fully) recorded. */
  notMonitored: (err: unknown) => void;
  /** With MEDIC_URL or --url: the start and the end go to medic serve instead of the config and the store. */
  remote?: RunRemote;
}

/** Where a run's start and end go over HTTP (commands/remote.ts); each throws as a beat would. */
export interface RunRemote {
  start(): Promise<void>;
  end(signal: RunSignal): Promise<void>;
  /** How long each may take before the run goes on without it. */
  boundMs: { start: number; end: number };
  /** Hides the ping key in what the job printed (before the tail is cut, as for routing keys). */
  hide(text: string): string;
}

export interface RunInput {
  slug: string;
  command: string[];
  /** `--timeout`: a Medic duration. */
  timeout?: string;
}

const MAX_TIMEOUT_MS = 24 * 86_400_000;
/** After a timeout's TERM, how long the job has before KILL. */
export const KILL_AFTER_MS = 5000;
/**
 * How long recording the start or the end may take before the run goes on without it: the job's
 * exit must not wait on a config or database that does not answer. (A database lock is bounded by
 * SQLite's own busy timeout, store/sqlite.ts.)
 */
export const RECORD_BOUND_MS = 5000;

/** More than a routing key (32 characters) in any encoding the tail could hold it in. */
const KEY_MARGIN_BYTES = 256;

/** A signal as `beat` takes it: the store stamps the time. */
type RunSignal = { kind: SignalKind } & SignalDetails;

/**
 * `medic run <slug> -- <command...>`: records a start, runs the command (no shell) with its output
 * streamed through, records success or failure with exit code, duration and the output's tail, and
 * returns the command's exit code (128+n for a death by signal n, 124 after --timeout, 127 when the
 * command is not found, 126 when it cannot be executed).
 *
 * Monitoring never breaks the job: an unknown slug, a broken config, an unwritable database or a
 * recording that does not finish in time are one line on stderr each, and the job runs and its code
 * is returned all the same. Only medic's own command line (a bad --timeout) stops it before it runs.
 */
export async function run(input: RunInput, deps: RunDeps): Promise<number> {
  const [command, ...args] = input.command;
  if (command === undefined) throw new UsageError('no command to run', 'medic run <slug> -- <command> [args...]');
  let timeoutMs: number | null = null;
  if (input.timeout !== undefined) {
    timeoutMs = parseDuration(input.timeout);
    if (!timeoutMs) throw new UsageError(`--timeout: expected a duration like "30s", "10m" or "2h", got "${input.timeout}"`);
    // Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer one would fire at once.
    if (timeoutMs > MAX_TIMEOUT_MS) throw new UsageError(`--timeout: at most 24d, got "${input.timeout}"`, 'for a longer run, leave --timeout out and set maxRuntime on the service');
  }

  const warned = new Set<string>();
  const { remote } = deps;
  /** Records what `signal` gives, within RECORD_BOUND_MS (remote: its own bound); a failure is a warning, never the run's end. */
  const record = async (phase: 'start' | 'end', signal: () => Promise<RunSignal>): Promise<void> => {
    let bound: NodeJS.Timeout | undefined;
    const boundMs = remote ? remote.boundMs[phase] : RECORD_BOUND_MS;
    try {
      await Promise.race([
        // `beat` takes the signal (the signals work); passed as a value so this compiles either side of it.
        signal().then((s) => {
          if (remote) return phase === 'start' ? remote.start() : remote.end(s);
          const beatInput = { slug: input.slug, signal: s };
          return beat(beatInput, deps);
        }),
        new Promise<never>((_, reject) => {
          bound = setTimeout(() => reject(new Error(`recording the run did not finish within ${boundMs / 1000}s`)), boundMs);
        }),
      ]);
    } catch (err) {
      // The same cause (an unknown slug, a broken config, a medic serve out of reach) fails the start and the end: said once.
      const key = isMedicError(err) && err.exitCode === EXIT.tempfail ? 'not delivered' : err instanceof Error ? err.message : String(err);
      if (!warned.has(key)) deps.notMonitored(err);
      warned.add(key);
    } finally {
      clearTimeout(bound);
    }
  };

  let forward = (_signal: NodeJS.Signals) => {};
  const unsubscribe = deps.onSignal((signal) => forward(signal));
  try {
    const job = startJob({
      argv: [command, ...args],
      env: deps.env,
      timeoutMs,
      killAfterMs: KILL_AFTER_MS,
      // Room beyond the largest tail for a key that the cut would otherwise halve (hidden before the cut).
      tailCapacity: OUTPUT_TAIL_MAX_BYTES + KEY_MARGIN_BYTES,
      stdout: deps.stdout,
      stderr: deps.stderr,
      kill: deps.kill,
      monotonic: deps.monotonic,
    });
    forward = job.forward;
    // Recorded while the job already runs: monitoring adds nothing to its start.
    const started = record('start', async () => ({ kind: 'start' }));
    const result = await job.done;
    // medic's own word on why the run ended is the run's message too (history, the page): a 124 of
    // --timeout, a 127 or 126 of a command that could not start, told apart from the job's own codes.
    const said = result.notStarted ?? (result.timedOut ? `${command}: timed out after ${input.timeout} (medic run --timeout)` : null);
    // It quotes the command, which may hold a key: hidden, on stderr and where it is kept.
    const hide = (text: string, keys: string[]) => (remote ? remote.hide(redactKnownKeys(text, keys)) : redactKnownKeys(text, keys));
    const why = said === null ? null : hide(said, await deps.keysToHide().catch(() => []));
    if (why !== null) deps.say(why);
    await started;
    await record('end', async () => {
      const tailBytes = Math.max(0, Math.min(OUTPUT_TAIL_MAX_BYTES, await deps.outputTailBytes(input.slug)));
      // Keys are hidden before the tail is cut to size: cut first, a key across the cut would keep 31 of its 32 characters.
      const keys = await deps.keysToHide().catch(() => []);
      const outputTail = tailUtf8(hide(result.tail.text(tailBytes + KEY_MARGIN_BYTES), keys), tailBytes);
      const details = { exitCode: result.exitCode, durationMs: result.durationMs, outputTail, ...(why !== null && { message: why }) };
      return { kind: result.exitCode === 0 ? 'ok' : 'fail', ...details };
    });
    return result.exitCode;
  } finally {
    unsubscribe();
  }
}
