const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const PART = /(\d+)(ms|s|m|h|d|w)/g;
const WHOLE = /^(\d+(ms|s|m|h|d|w))+$/;
/** Longer than any real interval, short enough that every deadline is still a valid date. */
export const MAX_DURATION_MS = 100 * 365 * 86_400_000;

/**
 * Parses a config or CLI duration: `"90s"`, `"5m"`, `"1h30m"`, `"2d"`, or a number of seconds.
 * Returns milliseconds, or null when the value is not a duration (negative, NaN, "5 minutes",
 * over 100 years).
 */
export function parseDuration(value: unknown): number | null {
  const ms = parseAny(value);
  return ms !== null && ms <= MAX_DURATION_MS ? ms : null;
}

function parseAny(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!WHOLE.test(text)) return null;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(PART)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms;
}

/** The shortest exact form of a duration: 5400000 → "1h30m", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.abs(ms);
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit]!;
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return (ms < 0 ? '-' : '') + out;
}

/** An instant as ISO 8601 UTC, the form Medic shows and sends (SPEC §3: epoch ms inside). */
export function iso(at: number): string {
  // The database is input (SPEC §8): an instant out of Date's range is shown, never thrown over.
  return Number.isFinite(at) && Math.abs(at) <= MAX_INSTANT ? new Date(at).toISOString() : `an invalid time (${at})`;
}

/** The largest magnitude of a JavaScript Date (±100,000,000 days from 1970). */
const MAX_INSTANT = 8.64e15;

/** A rough human form for tables: "3m", "2h", "4d" (largest unit, floored). */
export function roughDuration(ms: number): string {
  const abs = Math.abs(ms);
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (abs >= UNIT_MS[unit]!) return `${Math.floor(abs / UNIT_MS[unit]!)}${unit}`;
  }
  return '0s';
}
