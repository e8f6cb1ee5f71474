// Mocha root hooks: servers started on demand by specs are stopped by PID after the run.
import { stopSharedServers } from './servers.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(30_000);
    await stopSharedServers();
  },
};
