/**
 * `npm start`: the whole path on one machine, no setup. An embedded broker (aedes) on a free
 * loopback port, the agent with config/demo.yaml and two simulated sensors, and a line
 * printed for every reading the broker receives. Ctrl-C stops the agent cleanly.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
// aedes is CommonJS: its default export carries createBroker.
import aedesModule from 'aedes';
import { startAgent } from '../src/agent.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/observe/logger.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return (server.address() as net.AddressInfo).port;
}

async function main(): Promise<void> {
  const broker = aedesModule.createBroker();
  const server = net.createServer((socket) => broker.handle(socket));
  const port = await listen(server);

  broker.on('publish', (packet, client) => {
    if (client === null || packet.topic.startsWith('$SYS')) return;
    const body = packet.payload.toString();
    process.stdout.write(`broker <- ${packet.topic}${packet.retain ? ' (retained)' : ''}  ${body}\n`);
  });

  const config = await loadConfig(path.join(root, 'config', 'demo.yaml'));
  config.mqtt = { ...config.mqtt, port, url: `mqtt://127.0.0.1:${port}` };
  process.stdout.write(`demo broker (aedes) on 127.0.0.1:${port}; store in ${config.store.path}\nCtrl-C to stop.\n\n`);
  const agent = await startAgent(config, { logger: createLogger({ level: 'warn' }) });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void agent.stop().then(() => {
      server.close();
      broker.close(() => process.exit(0));
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
