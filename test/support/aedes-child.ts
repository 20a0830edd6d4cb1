/**
 * Aedes in its own process, so the launcher can SIGTERM/SIGKILL it exactly like mosquitto.
 * Persistence is aedes' in-memory default: a restart loses every session and queued message.
 * Usage: node aedes-child.js PORT
 */
// aedes is CommonJS: the default import is module.exports, which carries createBroker.
import aedesModule from 'aedes';
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write(`Error: bad port argument ${String(process.argv[2])}\n`);
  process.exit(2);
}

const log = (line: string): void => {
  process.stdout.write(`${new Date().toISOString()}: ${line}\n`);
};

const aedes = aedesModule.createBroker();
const server = createServer(aedes.handle);

aedes.on('client', (client) => log(`New client connected as ${client.id}`));
aedes.on('clientDisconnect', (client) => log(`Client ${client.id} disconnected`));
aedes.on('clientError', (client, err) => log(`Client ${client.id} error: ${err.message}`));
aedes.on('connectionError', (client, err) => log(`Connection error ${client.id}: ${err.message}`));

server.on('error', (err: NodeJS.ErrnoException) => {
  // The launcher greps for "Address already in use" to retry on another port.
  const text = err.code === 'EADDRINUSE' ? 'Address already in use' : err.message;
  process.stderr.write(`Error: ${text}\n`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => log(`aedes running on port ${port}`));

const shutdown = (): void => {
  log('aedes terminating');
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
