import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES, type SignalDetails } from './signal.js';

/** A signal's details with every field present (null when absent) and within its bound. */
export interface BoundedDetails {
  exitCode: number | null;
  durationMs: number | null;
  message: string | null;
  outputTail: string | null;
}

/**
 * Cuts what a signal carries to its bounds, never refusing it (the details are third-party input:
 * a job's output, a spool file's content): the message to its first MESSAGE_MAX_CHARS characters,
 * the output to its last `tailBytes` bytes of UTF-8; an exit code that is not an integer, or a
 * duration that is not a finite number of ms, is dropped. An empty message or output is none.
 */
export function boundDetails(d: SignalDetails | undefined, tailBytes = OUTPUT_TAIL_MAX_BYTES): BoundedDetails {
  const exitCode = d?.exitCode;
  const durationMs = d?.durationMs;
  return {
    exitCode: isExitCode(exitCode) ? exitCode : null,
    durationMs: typeof durationMs === 'number' && Number.isFinite(durationMs) ? Math.min(Math.max(0, Math.round(durationMs)), Number.MAX_SAFE_INTEGER) : null,
    message: typeof d?.message === 'string' && d.message !== '' ? headChars(d.message, MESSAGE_MAX_CHARS) : null,
    outputTail: typeof d?.outputTail === 'string' && d.outputTail !== '' ? tailUtf8(d.outputTail, Math.min(tailBytes, OUTPUT_TAIL_MAX_BYTES)) || null : null,
  };
}

/** An exit code as a process can have one (a 32-bit whole number): anything else is dropped, never stored or sent. */
export function isExitCode(n: unknown): n is number {
  return Number.isSafeInteger(n) && (n as number) >= -(2 ** 31) && (n as number) < 2 ** 31;
}

/** True when any detail is set (a success with details is kept in history as a signal). */
export function hasDetails(d: BoundedDetails): boolean {
  return d.exitCode !== null || d.durationMs !== null || d.message !== null || d.outputTail !== null;
}

/** The first `max` characters (code points: a surrogate pair is never split), as well-formed text. */
export function headChars(text: string, max: number): string {
  const cut = text.length <= max ? text : Array.from(text.slice(0, 2 * max)).slice(0, max).join('');
  return wellFormed(cut);
}

/**
 * The last `maxBytes` bytes of `text` in UTF-8, starting at a character boundary (a character the
 * cut falls inside is dropped whole). Lone surrogates become U+FFFD first, as UTF-8 has no form for them.
 */
export function tailUtf8(text: string, maxBytes: number): string {
  // Three bytes at most per UTF-16 unit: short text needs no encoding to be within the bound.
  if (text.length * 3 <= maxBytes) return wellFormed(text);
  const bytes = utf8.encode(text);
  if (bytes.length <= maxBytes) return decoder.decode(bytes);
  let start = bytes.length - maxBytes;
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++; // a continuation byte: inside a character
  return decoder.decode(bytes.subarray(start));
}

const utf8 = new TextEncoder();
// ignoreBOM: a U+FEFF at the start is text like any other, not a mark to drop.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Lone surrogates (no UTF-8 form) become U+FFFD, as they would when stored. */
function wellFormed(text: string): string {
  return /[\ud800-\udfff]/.test(text) ? decoder.decode(utf8.encode(text)) : text;
}

/** [scale] The longest run id kept (a UUID is 36 characters); a longer one, or one that is not text, is dropped. */
export const RUN_ID_MAX_CHARS = 64;

/** A run id as stored: text of at most RUN_ID_MAX_CHARS characters, else null. */
export function boundRunId(runId: unknown): string | null {
  return typeof runId === 'string' && runId !== '' && runId.length <= RUN_ID_MAX_CHARS ? runId : null;
}
