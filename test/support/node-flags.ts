/**
 * The node flags the agent ships with: the CLI's first line is `#!/usr/bin/env -S node FLAGS`,
 * so `sensorgate run` (and the service unit, which runs the bin) gets them. Tests and the bench
 * start `node dist/src/cli.js` or their own child, which skips the shebang, so they read the
 * flags from it and pass them on: what is measured is what ships.
 */
import { readFileSync } from 'node:fs';
import { CLI_PATH } from './cli.js';

export function shippedNodeFlags(cliPath = CLI_PATH): string[] {
  const first = readFileSync(cliPath, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\/usr\/bin\/env -S node((?: --[\w-]+(?:=\S+)?)*)\s*$/.exec(first);
  if (match === null) throw new Error(`${cliPath}: first line is not "#!/usr/bin/env -S node [--flags]": ${first}`);
  return (match[1] ?? '').split(' ').filter(Boolean);
}
