/** The two ways an SDK test reaches a workspace: straight to the stores, or through a server. */
import { join } from 'node:path';
import { Trellis } from '../../src/sdk/trellis.js';
import { Workspace } from '../../src/workspace/workspace.js';
import { startServer } from '../../src/api/serve.js';

export type Opener = (dir: string) => Promise<{ t: Trellis; cleanup: () => Promise<void> }>;

const stores = (dir: string) => ({ store: `sqlite:${join(dir, 't.db')}`, artifacts: `file:${join(dir, 'a')}` });

export const openEmbedded = (user: string): Opener => async (dir) => ({ t: await Trellis.open({ ...stores(dir), user }), cleanup: async () => undefined });

export const openRemote: Opener = async (dir) => {
  const ws = await Workspace.open(stores(dir));
  const server = await startServer({ host: '127.0.0.1', port: 0, workspace: ws, log: false });
  return {
    t: Trellis.connect(server.url),
    cleanup: async () => {
      await server.close();
      await ws.close();
    },
  };
};
