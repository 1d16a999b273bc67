import { describe, expect, it } from 'vitest';
import { jsonObject } from '../../src/core/json.js';

describe('jsonObject', () => {
  it.each<[string, Record<string, unknown> | null]>([
    ['{"a":1}', { a: 1 }],
    ['  {"ok":false,"error":"x"}\n', { ok: false, error: 'x' }],
    ['[1,2]', null],
    ['"text"', null],
    ['null', null],
    ['42', null],
    ['ok', null],
    ['', null],
    ['{"a":', null],
  ])('%j → %j', (text, want) => {
    expect(jsonObject(text)).toEqual(want);
  });
});
