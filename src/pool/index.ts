export { spawnWorker, bootstrapData, BOOTSTRAP_URL } from './spawn.js';
