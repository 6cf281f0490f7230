/** Worker thread entry: profiles the columns it is sent and posts their profiles back. */
import { parentPort } from 'node:worker_threads';
import type { Column } from '../table.js';
import { profileColumn } from './profile.js';

parentPort!.on('message', (columns: Column[]) => {
  parentPort!.postMessage(columns.map(profileColumn));
});
