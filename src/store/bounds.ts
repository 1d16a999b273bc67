import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES } from '../core/signal.js';
import { headChars, tailUtf8 } from '../core/signal-bounds.js';

/**
 * Text is cut to its bounds when it is written, but the database is input (SPEC §8): a row
 * written by something else may hold hundreds of MB, enough to crash every check and status
 * ("Cannot create a string longer than 0x1fffffe8 characters") or eat the machine's memory. So the
 * stores cut every text they read IN SQL, to a little more than its bound, and then to the bound
 * here: what was written by Medic reads back unchanged.
 */

/** Medic's own notes read back (errors, PagerDuty's answers, reasons, delivery details): the first this many characters. */
export const NOTE_MAX_CHARS = 8_000;
/** A job's message as stored bytes (PostgreSQL's BYTEA): MESSAGE_MAX_CHARS characters take at most 4 bytes each. */
export const MESSAGE_MAX_BYTES = 4 * MESSAGE_MAX_CHARS;

/** [targets] A delivered trigger's receipt (a Slack message's channel, ts and check): read cut to this many characters. */
export const RECEIPT_MAX_CHARS = 500;

/** A job's message read back: its first MESSAGE_MAX_CHARS characters. */
export function readMessage(text: string | null | undefined): string | null {
  return text === null || text === undefined ? null : headChars(text, MESSAGE_MAX_CHARS);
}

/** A job's output read back: its last OUTPUT_TAIL_MAX_BYTES bytes of UTF-8. */
export function readTail(text: string | null | undefined): string | null {
  return text === null || text === undefined ? null : tailUtf8(text, OUTPUT_TAIL_MAX_BYTES);
}

/**
 * A job's exit code or duration read back: an integer, else null. A SQLite column holds whatever was
 * written into it (a table rebuilt without STRICT by anyone who can write the file), and these are
 * printed and put into pages as numbers, unescaped.
 */
export function readInteger(value: unknown): number | null {
  return Number.isSafeInteger(value) ? (value as number) : null;
}

/** Medic's own note read back: its first NOTE_MAX_CHARS characters. */
export function readNote<T extends string | null | undefined>(text: T): T {
  return (typeof text === 'string' && text.length > NOTE_MAX_CHARS ? headChars(text, NOTE_MAX_CHARS) : text) as T;
}

/**
 * SQL that cuts a column in SQLite (characters), as `<expr> AS <column>`. Only text longer in bytes
 * than any Medic writes is cut: SQLite's substr() on text with a NUL in it is undefined, and job
 * output may hold one (octet_length does not read the text).
 */
export const sqliteBounded = {
  message: (col: string) => `CASE WHEN octet_length(${col}) > ${MESSAGE_MAX_BYTES} THEN substr(${col}, 1, ${MESSAGE_MAX_CHARS}) ELSE ${col} END AS ${col}`,
  // The last OUTPUT_TAIL_MAX_BYTES characters hold at least the last OUTPUT_TAIL_MAX_BYTES bytes.
  tail: (col: string) => `CASE WHEN octet_length(${col}) > ${OUTPUT_TAIL_MAX_BYTES} THEN substr(${col}, -${OUTPUT_TAIL_MAX_BYTES}) ELSE ${col} END AS ${col}`,
  note: (col: string) => `CASE WHEN octet_length(${col}) > ${4 * NOTE_MAX_CHARS} THEN substr(${col}, 1, ${NOTE_MAX_CHARS}) ELSE ${col} END AS ${col}`,
};

/** SQL that cuts a column in PostgreSQL: job text is BYTEA (bytes), notes are TEXT (characters). */
export const postgresBounded = {
  message: (col: string) => `substring(${col} from 1 for ${MESSAGE_MAX_BYTES}) AS ${col}`,
  tail: (col: string) => `substring(${col} from greatest(1, length(${col}) - ${OUTPUT_TAIL_MAX_BYTES - 1})) AS ${col}`,
  note: (col: string) => `left(${col}, ${NOTE_MAX_CHARS}) AS ${col}`,
};
