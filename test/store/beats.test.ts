import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { query, tempDir } from '../helpers/db.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-26T12:00:00Z');

function open(): { store: SqliteStore; path: string } {
  const path = join(tempDir(), 'medic.db');
  return { store: openSqliteStore(path), path };
}

async function service(store: SqliteStore, slug: string) {
  return (await store.services()).find((s) => s.slug === slug);
}

describe('recordBeat', () => {
  it('sets lastBeatAt to the beat and counts beats in beatSeq', async () => {
    const { store, path } = open();
    try {
      await store.register(['job'], T0 - 60 * MIN);
      await store.recordBeat('job', T0);
      expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0, beatSeq: 1, registeredAt: T0 - 60 * MIN });
      await store.recordBeat('job', T0 + 5 * MIN);
      expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0 + 5 * MIN, beatSeq: 2 });
    } finally {
      store.close();
    }
    expect(query(path, 'SELECT slug, at FROM beats ORDER BY id')).toEqual([
      { slug: 'job', at: T0 },
      { slug: 'job', at: T0 + 5 * MIN },
    ]);
  });

  it('takes the latest beat written even when its timestamp is earlier (the clock stepped back)', async () => {
    const { store, path } = open();
    try {
      await store.recordBeat('job', T0);
      await store.recordBeat('job', T0 - 2 * MIN);
      expect(await service(store, 'job')).toMatchObject({ lastBeatAt: T0 - 2 * MIN, beatSeq: 2 });
    } finally {
      store.close();
    }
    expect(query(path, 'SELECT at FROM beats ORDER BY id')).toEqual([{ at: T0 }, { at: T0 - 2 * MIN }]);
  });

  it('registers a service it has never seen, at the beat', async () => {
    const { store } = open();
    try {
      await store.recordBeat('fresh', T0);
      expect(await service(store, 'fresh')).toMatchObject({
        slug: 'fresh',
        registeredAt: T0,
        lastBeatAt: T0,
        beatSeq: 1,
        incident: null,
        incidentId: null,
        version: 0,
      });
      // A later registration from the config keeps the first one.
      await store.register(['fresh'], T0 + MIN);
      expect(await service(store, 'fresh')).toMatchObject({ registeredAt: T0, lastBeatAt: T0, beatSeq: 1 });
    } finally {
      store.close();
    }
  });

  it('touches only its own service', async () => {
    const { store } = open();
    try {
      await store.register(['a', 'b'], T0);
      await store.recordBeat('a', T0 + MIN);
      expect(await service(store, 'b')).toMatchObject({ lastBeatAt: null, beatSeq: 0, registeredAt: T0 });
    } finally {
      store.close();
    }
  });

  it('is on disk once it returns: another connection sees it', async () => {
    const { store, path } = open();
    try {
      await store.recordBeat('job', T0);
      expect(query(path, 'SELECT slug, last_beat_at, beat_seq FROM services')).toEqual([{ slug: 'job', last_beat_at: T0, beat_seq: 1 }]);
    } finally {
      store.close();
    }
  });
});

describe('register', () => {
  it('adds services seen for the first time and leaves known ones alone', async () => {
    const { store } = open();
    try {
      await store.register(['a'], T0);
      await store.recordBeat('a', T0 + MIN);
      await store.register(['a', 'b'], T0 + 2 * MIN);
      const byslug = new Map((await store.services()).map((s) => [s.slug, s]));
      expect(byslug.get('a')).toMatchObject({ registeredAt: T0, lastBeatAt: T0 + MIN, beatSeq: 1 });
      expect(byslug.get('b')).toMatchObject({ registeredAt: T0 + 2 * MIN, lastBeatAt: null, beatSeq: 0, incident: null });
    } finally {
      store.close();
    }
  });
});
