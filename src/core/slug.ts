/**
 * A service's slug (SPEC §2): 1–64 characters of a-z 0-9 . _ -, starting with a letter or digit.
 * The same rule as `definitions.slug` in medic.schema.json (a test keeps the two in step). A slug
 * that passes it is safe in a file name, a dedup key and a terminal line.
 */
export const SLUG_SHAPE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function isSlug(value: string): boolean {
  return SLUG_SHAPE.test(value);
}

/** A slug as the user typed it, for an error message: quoted, control characters escaped, cut to 80 characters. */
export function quoteSlug(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(cut).replace(/[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
