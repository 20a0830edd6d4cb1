/**
 * The `repair` subcommand: runs the store repair and tells the operator, in a few lines,
 * what happened and where the untouched copy is. Exit code 0 on success, 1 otherwise.
 */
import type { AgentConfig } from './config/types.js';
import { createLogger } from './observe/logger.js';
import { RepairError, repairStore } from './outbox/repair.js';

export async function runRepair(config: AgentConfig, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const { store } = config;
  // Warnings from the open after the repair (quarantined messages) go to stderr as JSON lines.
  const logger = createLogger({ level: 'warn', write: (line) => err(line.trimEnd()) });
  try {
    const result = await repairStore(
      { path: store.path, maxMessages: store.maxMessages, maxBytes: store.maxBytes, whenFull: store.whenFull, sync: store.sync },
      logger,
    );
    if (!result.lockChecked) err('sensorgate: warning: could not check whether another process has the store open (no /proc/locks)');
    out(`repaired ${store.path}`);
    out(`  queued messages: ${result.messages} (${result.bytes} bytes)`);
    if (result.quarantined > 0) out(`  unreadable messages moved aside (bad!<seq> keys): ${result.quarantined}`);
    out(`  backup of the directory as it was: ${result.backup}`);
    out(`  files LevelDB could not use, if any: ${store.path}/lost/`);
    return 0;
  } catch (e) {
    if (!(e instanceof RepairError)) throw e;
    err(`sensorgate: repair failed: ${e.message}`);
    return 1;
  }
}
