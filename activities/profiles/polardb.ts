// Placeholder until the PolarDB profile lands: every step says it is not implemented.
import { failure } from '../failures.js';
import type { Profile } from './types.js';

const missing = (): never => {
  throw failure('NotImplemented', 'the polardb profile is not implemented yet');
};

export const polardbProfile: Profile = {
  name: 'polardb',
  storageDaemon: missing,
  binaries: missing,
  buildNode: missing,
  startNode: missing,
  postmasterDir: missing,
};
