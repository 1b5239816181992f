/** ClientConnectionImpl lives with ConnectionImpl (connection.ts); this path is kept for importers. */
export { ClientConnectionImpl, type ClientConnectionOptions, type ClientTransport, rawClientTransport } from './connection.js';
