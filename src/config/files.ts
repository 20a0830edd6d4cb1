/**
 * Reading the files a config refers to (the config itself, password files, TLS material),
 * with size limits and plain-English failures instead of raw errno errors.
 */
import { open, stat } from 'node:fs/promises';

/** A file problem, phrased to follow a field name: `mqtt.tls.ca: file not found: /etc/ca.pem`. */
export class FileProblem extends Error {
  override readonly name = 'FileProblem';
}

function describe(err: unknown, path: string): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `file not found: ${path}`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied: ${path}`;
    case 'EISDIR':
      return `is a directory, not a file: ${path}`;
    case 'ENOTDIR':
      return `not a valid path: ${path}`;
    default:
      return `cannot read ${path}: ${code ?? (err instanceof Error ? err.message : String(err))}`;
  }
}

/**
 * Reads a regular file of at most `maxBytes` as UTF-8.
 * Refuses devices, FIFOs and directories (a path pointing at /dev/zero or a pipe must not hang us).
 * @throws FileProblem
 */
export async function readTextFile(path: string, maxBytes: number): Promise<string> {
  const problem = await unreadableFileProblem(path);
  if (problem !== undefined) throw new FileProblem(problem);
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw new FileProblem(describe(err, path));
  }
  try {
    // Read at most maxBytes + 1 so a file that grew since the check cannot make us read without bound.
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw new FileProblem(`file is larger than ${maxBytes} bytes: ${path}`);
    }
    return buffer.toString('utf8', 0, length);
  } catch (err) {
    if (err instanceof FileProblem) throw err;
    throw new FileProblem(describe(err, path));
  } finally {
    await handle.close();
  }
}

/**
 * Checks that `path` is a regular file this process can open for reading, or says why not.
 * Returns undefined when it is fine.
 */
export async function unreadableFileProblem(path: string): Promise<string | undefined> {
  try {
    // stat before open: opening a FIFO for reading would block until a writer appears.
    if (!(await stat(path)).isFile()) return `not a regular file: ${path}`;
    const handle = await open(path, 'r');
    await handle.close();
    return undefined;
  } catch (err) {
    return describe(err, path);
  }
}
