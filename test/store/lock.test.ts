import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite.js';
import { tempDir } from '../helpers/db.js';

const T0 = Date.parse('2026-11-26T12:00:00Z');
const LEASE = 120_000;
const A = '100@host-a';
const B = '200@host-b';

function open(): SqliteStore {
  return openSqliteStore(join(tempDir(), 'medic.db'));
}

it('A takes the free lock; B is refused while the lease is live and learns the holder', async () => {
  const store = open();
  try {
    expect(await store.acquireLock(A, T0, LEASE)).toEqual({ acquired: true, holder: A });
    expect(await store.acquireLock(B, T0 + 1, LEASE)).toEqual({ acquired: false, holder: A });
    expect(await store.acquireLock(B, T0 + LEASE - 1, LEASE)).toEqual({ acquired: false, holder: A });
  } finally {
    store.close();
  }
});

it('B takes the lock once the lease has expired (the lease ends at its last millisecond)', async () => {
  const store = open();
  try {
    await store.acquireLock(A, T0, LEASE);
    expect(await store.acquireLock(B, T0 + LEASE, LEASE)).toEqual({ acquired: true, holder: B });
    // B now holds it with a lease of its own.
    expect(await store.acquireLock(A, T0 + LEASE + 1, LEASE)).toEqual({ acquired: false, holder: B });
  } finally {
    store.close();
  }
});

it('takeOverFrom names the holder: B takes a live lease over from A, but not from someone else', async () => {
  const store = open();
  try {
    await store.acquireLock(A, T0, LEASE);
    expect(await store.acquireLock(B, T0 + 1, LEASE, '300@host-c')).toEqual({ acquired: false, holder: A });
    expect(await store.acquireLock(B, T0 + 1, LEASE, A)).toEqual({ acquired: true, holder: B });
    expect(await store.acquireLock('300@host-c', T0 + 2, LEASE)).toEqual({ acquired: false, holder: B });
  } finally {
    store.close();
  }
});

it('releaseLock frees the lock and records lastCheckAt', async () => {
  const store = open();
  try {
    expect(await store.lastCheckAt()).toBeNull();
    await store.acquireLock(A, T0, LEASE);
    await store.releaseLock(A, T0 + 5_000);
    expect(await store.lastCheckAt()).toBe(T0 + 5_000);
    // Free again well within A's old lease.
    expect(await store.acquireLock(B, T0 + 6_000, LEASE)).toEqual({ acquired: true, holder: B });
  } finally {
    store.close();
  }
});

it('a checker whose lock was taken over cannot release the new holder\'s lock nor move lastCheckAt', async () => {
  const store = open();
  try {
    await store.acquireLock(A, T0, LEASE);
    await store.acquireLock(B, T0 + 1, LEASE, A);
    await store.releaseLock(A, T0 + 2);
    expect(await store.lastCheckAt()).toBeNull();
    expect(await store.acquireLock('300@host-c', T0 + 3, LEASE)).toEqual({ acquired: false, holder: B });
  } finally {
    store.close();
  }
});

it('the lock is shared through the file: a second connection sees the first one\'s lease', async () => {
  const path = join(tempDir(), 'medic.db');
  const one = openSqliteStore(path);
  const two = openSqliteStore(path);
  try {
    expect((await one.acquireLock(A, T0, LEASE)).acquired).toBe(true);
    expect(await two.acquireLock(B, T0 + 1, LEASE)).toEqual({ acquired: false, holder: A });
    await one.releaseLock(A, T0 + 10);
    expect(await two.lastCheckAt()).toBe(T0 + 10);
  } finally {
    one.close();
    two.close();
  }
});
