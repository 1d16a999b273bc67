import { describe, expect, it } from 'vitest';
import { formatDuration, iso, parseDuration } from '../../src/core/duration.js';
import { nearest } from '../../src/core/suggest.js';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1w', 604_800_000],
    ['250ms', 250],
    [30, 30_000],
    [0, 0],
    ['45', 45_000],
  ])('%j → %i ms', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each([['5 minutes'], ['-5m'], ['m5'], [''], [-1], [Number.NaN], [null], ['1.5h']])('%j is not a duration', (input) => {
    expect(parseDuration(input)).toBeNull();
  });

  it.each([
    [5_400_000, '1h30m'],
    [0, '0s'],
    [86_400_000 + 1000, '1d1s'],
  ])('formats %i as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('nearest (did you mean)', () => {
  it.each([
    ['nightly-bakup', ['nightly-backup', 'hourly-sync'], 'nightly-backup'],
    ['hourly-snyc', ['nightly-backup', 'hourly-sync'], 'hourly-sync'],
    ['payments', ['nightly-backup', 'hourly-sync'], undefined],
  ])('%s among %j → %s', (word, candidates, expected) => {
    expect(nearest(word, candidates)).toBe(expected);
  });
});

describe('iso', () => {
  it.each([
    [0, '1970-01-01T00:00:00.000Z'],
    [Date.parse('2026-11-29T12:00:00Z'), '2026-11-29T12:00:00.000Z'],
    // The database is input: an instant Date cannot hold is shown, not thrown over (exit 70).
    [9e18, 'an invalid time (9000000000000000000)'],
    [-9e18, 'an invalid time (-9000000000000000000)'],
    [Number.NaN, 'an invalid time (NaN)'],
  ])('%s → %s', (at, shown) => {
    expect(iso(at)).toBe(shown);
  });
});
