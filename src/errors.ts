/** Exit codes from sysexits.h, as SPEC §6 lists them. */
export const EXIT = {
  ok: 0,
  usage: 64,
  data: 65,
  software: 70,
  ioerr: 74,
  tempfail: 75,
  rejected: 76,
  config: 78,
} as const;

/**
 * Marks a MedicError across copies of this module: dist/quick-beat.js is bundled on its own, with
 * its own copy of these classes, so `instanceof` alone would miss its errors.
 */
const BRAND = Symbol.for('medic.MedicError');

/**
 * Every error a user can cause is a MedicError: a one-line message, an exit code and a next step.
 * cli.ts is the only place that prints them.
 */
export class MedicError extends Error {
  readonly [BRAND] = true;

  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export function isMedicError(err: unknown): err is MedicError {
  return err instanceof MedicError || (err instanceof Error && (err as { [BRAND]?: boolean })[BRAND] === true);
}

/** When several delivery outcomes apply, the one a run exits with: 78, then 76, then 75. */
export function mostUrgent(codes: Iterable<number>): number | undefined {
  const seen = new Set(codes);
  return [EXIT.config, EXIT.rejected, EXIT.tempfail].find((c) => seen.has(c));
}

export class UsageError extends MedicError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.usage, hint);
  }
}

export class DataError extends MedicError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.data, hint);
  }
}

export class ConfigError extends MedicError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.config, hint);
  }
}

export class DatabaseError extends MedicError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.ioerr, hint);
  }
}

/** Shows enough of a routing key to tell two apart, never enough to use one: `a1b2…o5p6`. */
export function redactKey(key: string): string {
  return key.length <= 8 ? '…' : `${key.slice(0, 4)}…${key.slice(-4)}`;
}
