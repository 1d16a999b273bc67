import { describe, expect, it } from 'vitest';
import { MESSAGE_MAX_CHARS, OUTPUT_TAIL_MAX_BYTES } from '../../src/core/signal.js';
import { boundDetails, headChars, tailUtf8 } from '../../src/core/signal-bounds.js';

describe('tailUtf8: the last bytes of the output, never inside a character', () => {
  it.each([
    ['short text, as it is', 'hello', 10, 'hello'],
    ['ASCII over the bound: its last bytes', 'abcdefghij', 4, 'ghij'],
    ['a 3-byte character the cut falls inside is dropped whole', '€abc', 5, 'abc'],
    ['a 3-byte character that fits whole is kept', '€abc', 6, '€abc'],
    ['a 4-byte character (a surrogate pair in JS) is never halved', 'x😀y', 4, 'y'],
    ['a 4-byte character that fits is kept', 'x😀y', 5, '😀y'],
    ['a lone surrogate becomes U+FFFD', 'a\ud800b', 100, 'a\ufffdb'],
    ['a leading U+FEFF is text, kept', '\ufeffab', 100, '\ufeffab'],
    ['a bound of 0 leaves nothing', 'abc', 0, ''],
  ])('%s', (_label, text, max, tail) => {
    expect(tailUtf8(text, max)).toBe(tail);
    expect(Buffer.byteLength(tailUtf8(text, max))).toBeLessThanOrEqual(max);
  });

  it('1 MiB of output keeps exactly its last bound of bytes', () => {
    const output = 'é'.repeat(512 * 1024) + 'end';
    const tail = tailUtf8(output, 4096);
    // 'é' is 2 bytes: 4093 bytes of them cut at an odd byte lose half a character.
    expect(tail).toBe('é'.repeat(2046) + 'end');
  });
});

describe('headChars: the first characters of a message', () => {
  it.each([
    ['short text, as it is', 'disk full', 5000, 'disk full'],
    ['long text: its first characters', 'abcdef', 3, 'abc'],
    ['a surrogate pair counts as one character and is never split', '😀😀😀', 2, '😀😀'],
    ['a lone surrogate becomes U+FFFD', 'a\udc00', 5, 'a\ufffd'],
  ])('%s', (_label, text, max, head) => {
    expect(headChars(text, max)).toBe(head);
  });
});

describe('boundDetails: never refuses, cuts or drops', () => {
  it.each([
    ['nothing', undefined, { exitCode: null, durationMs: null, message: null, outputTail: null }],
    ['every field fine', { exitCode: 3, durationMs: 1500, message: 'm', outputTail: 'o' }, { exitCode: 3, durationMs: 1500, message: 'm', outputTail: 'o' }],
    ['a fractional exit code is dropped', { exitCode: 2.5 }, { exitCode: null }],
    ['an exit code beyond 32 bits is dropped (a process has none such; pagerduty.ts would leave it out)', { exitCode: 9_999_999_999 }, { exitCode: null }],
    ['the 32-bit bounds are kept', { exitCode: -(2 ** 31) }, { exitCode: -(2 ** 31) }],
    ['an infinite duration is dropped', { durationMs: Infinity }, { durationMs: null }],
    ['a negative duration is 0', { durationMs: -1 }, { durationMs: 0 }],
    ['a message over the bound keeps its start', { message: 'x'.repeat(MESSAGE_MAX_CHARS + 1) }, { message: 'x'.repeat(MESSAGE_MAX_CHARS) }],
    ['output over the bound keeps its end', { outputTail: `a${'x'.repeat(OUTPUT_TAIL_MAX_BYTES)}` }, { outputTail: 'x'.repeat(OUTPUT_TAIL_MAX_BYTES) }],
    ['empty text is none', { message: '', outputTail: '' }, { message: null, outputTail: null }],
  ])('%s', (_label, details, bounded) => {
    expect(boundDetails(details)).toMatchObject(bounded);
  });

  it('a smaller tail bound (a service\'s outputTailBytes) applies, never a larger one than the maximum', () => {
    expect(boundDetails({ outputTail: 'abcdef' }, 2).outputTail).toBe('ef');
    expect(Buffer.byteLength(boundDetails({ outputTail: 'x'.repeat(2 * OUTPUT_TAIL_MAX_BYTES) }, 10 * OUTPUT_TAIL_MAX_BYTES).outputTail!)).toBe(OUTPUT_TAIL_MAX_BYTES);
  });
});
