import { openStore } from '../../src/store/index.js';
import { freshDatabase } from '../helpers/pg.js';
import { storeContract } from './contract.js';

// Each test gets a fresh, empty database on the run's throwaway cluster (no Medic schema yet).
storeContract('PostgreSQL', async () => {
  const databaseUrl = await freshDatabase();
  return { open: (opts) => openStore({ databasePath: '/nonexistent/unused.db', databaseUrl }, { uid: process.geteuid!(), ...opts }) };
});
