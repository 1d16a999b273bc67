import { join } from 'node:path';
import { openStore } from '../../src/store/index.js';
import { tempDir } from '../helpers/db.js';
import { storeContract } from './contract.js';

// Each test gets a path in a fresh temp folder where nothing exists yet (not even the folder).
storeContract('SQLite', () => {
  const databasePath = join(tempDir(), 'state', 'medic.db');
  return { open: (opts) => openStore({ databasePath }, { uid: process.geteuid!(), ...opts }) };
});
