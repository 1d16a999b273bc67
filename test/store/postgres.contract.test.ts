import { openStore } from '../../src/store/index.js';
import { freshDatabase } from '../helpers/pg.js';
import { storeContract } from './contract.js';
import { outboxContract } from './outbox-contract.js';
import { pgClient } from './pg-client.js';

// Each test gets a fresh, empty database on the run's throwaway cluster (no Medic schema yet).
storeContract('PostgreSQL', async () => {
  const databaseUrl = await freshDatabase();
  return { open: (opts) => openStore({ databasePath: '/nonexistent/unused.db', databaseUrl }, { uid: process.geteuid!(), ...opts }) };
});

outboxContract('PostgreSQL', async () => {
  const url = await freshDatabase();
  const store = await openStore({ databasePath: '/nonexistent/unused.db', databaseUrl: url }, { uid: process.geteuid!() });
  const client = await pgClient(url);
  return {
    store,
    rows: async (sql, ...params) => (await client.query(sql, params)).rows,
    columns: async (table) => (await client.query('SELECT column_name FROM information_schema.columns WHERE table_name = $1', [table])).rows.map((r) => r.column_name as string),
    write: async (sql, ...params) => void (await client.query(sql, params)),
  };
});
