/**
 * [jobs] What a beat says about a run. `ok` is the plain heartbeat (a success); `start` says a run
 * began (it arms `maxRuntime` and is not a success); `fail` says a run failed (the service is down
 * at the next check, until a later success).
 */
export type SignalKind = 'ok' | 'start' | 'fail';

/** The details a signal may carry; every field is optional and bounded before it is stored. */
export interface SignalDetails {
  /** The job's exit code (`medic run`; 128+n for a signal death, 124 for a timeout). */
  exitCode?: number | null;
  /** How long the run took (`medic run`). */
  durationMs?: number | null;
  /** `-m <text>`: the operator's words (kept for a success too, shown in history). */
  message?: string | null;
  /** The last bytes of the run's combined output, as UTF-8 text (never cut inside a character). */
  outputTail?: string | null;
}

export interface Signal extends SignalDetails {
  kind: SignalKind;
  at: number;
}

/** Why a service is down: no beat in time, a run reported failure, or a run outlived `maxRuntime`. */
export type DownReason = 'missed' | 'failed' | 'stuck';

/** Bounds on what a signal may carry (the store cuts, never refuses). */
export const MESSAGE_MAX_CHARS = 1000;
export const OUTPUT_TAIL_MAX_BYTES = 64 * 1024;
export const OUTPUT_TAIL_DEFAULT_BYTES = 4096;
