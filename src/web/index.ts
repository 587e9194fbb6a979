export { buildWebServer, type WebDeps } from './server.ts';
