// `tuma keys rotate-master --new-key-file <path> [--old-key-file <path>]... [--chunk <n>]`: every
// data key, and the programme-independent key, rewrapped under a new master key while the service
// runs (application/rotate-master-key.ts says how, and the order of the steps around it). The keys
// that open what is wrapped today: TUMA_MASTER_KEY, and each --old-key-file. Prints the report (JSON)
// on stdout; exit 0 once every key is wrapped by the new one (the old key can then be removed from
// every process and destroyed), 1 otherwise (the report says what is left), 2 usage, 78 configuration.
import { readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { masterKeyIdOf } from '../adapters/crypto/vault.js';
import { wrappedKeyStore } from '../adapters/crypto/master-key-rotation.js';
import { createDb } from '../adapters/db/pool.js';
import { rotateMasterKey, rotationChunkDefault, rotationChunkMax } from '../application/rotate-master-key.js';
import type { VaultToolConfig } from '../config/config.js';

const usage = `usage: tuma keys rotate-master --new-key-file <path> [--old-key-file <path>]... [--chunk <n>]
  Rewraps every data key and the programme-independent key under the new master key (32 bytes: raw,
  or base64 on one line, e.g. \`openssl rand -base64 32\`), ${rotationChunkDefault} keys per transaction by default
  (at most ${rotationChunkMax}). The keys wrapped today open with TUMA_MASTER_KEY and each --old-key-file.
  Without downtime: first give every process the new key beside the old one, then make the new one the
  key that wraps (the old one still opens), then run this; when it reports complete, remove the old key.
  Needs DATABASE_URL.`;

/** A key file is one key: 32 bytes raw, or its base64 on one line. */
const keyFileBytesMax = 1024;

/** The 32-byte key in a file; throws a message for the operator. */
export function readMasterKeyFile(path: string): { key: Buffer; warning: string | null } {
  let size: number;
  let mode: number;
  try {
    ({ size, mode } = statSync(path));
  } catch {
    throw new Error(`cannot read ${path}`);
  }
  if (size > keyFileBytesMax) throw new Error(`${path} is not a key file (larger than ${keyFileBytesMax} bytes)`);
  const bytes = readFileSync(path);
  let key: Buffer | null = bytes.length === 32 ? bytes : null;
  if (!key) {
    const text = bytes.toString('utf8').trim();
    if (/^[A-Za-z0-9+/]{43}=$/.test(text)) key = Buffer.from(text, 'base64');
  }
  if (!key || key.length !== 32) throw new Error(`${path} holds no 32-byte key (raw, or base64 on one line)`);
  const warning = (mode & 0o077) !== 0 ? `${path} is readable by other users than its owner: chmod 600 it` : null;
  return { key, warning };
}

export async function runKeysRotateCli(argv: readonly string[], cfg: VaultToolConfig, logger: Logger, out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let values: { 'new-key-file'?: string; 'old-key-file'?: string[]; chunk?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      strict: true,
      options: { 'new-key-file': { type: 'string' }, 'old-key-file': { type: 'string', multiple: true }, chunk: { type: 'string' }, dev: { type: 'boolean' } },
    }));
  } catch {
    err(usage);
    return 2;
  }
  const chunk = values.chunk === undefined ? rotationChunkDefault : /^[1-9][0-9]{0,4}$/.test(values.chunk) ? Number(values.chunk) : NaN;
  if (!values['new-key-file'] || !Number.isInteger(chunk) || chunk > rotationChunkMax) {
    err(usage);
    return 2;
  }
  if (!cfg.database.url) {
    err('tuma keys rotate-master: needs DATABASE_URL');
    return 78;
  }
  let target: Buffer;
  const opening: Buffer[] = [cfg.crypto.masterKey];
  try {
    const read = readMasterKeyFile(values['new-key-file']);
    if (read.warning) err(`tuma keys rotate-master: warning: ${read.warning}`);
    target = read.key;
    for (const path of values['old-key-file'] ?? []) opening.push(readMasterKeyFile(path).key);
  } catch (error) {
    err(`tuma keys rotate-master: ${(error as Error).message}`);
    return 2;
  }
  const targetId = masterKeyIdOf(target);
  const openingIds = [...new Set(opening.map(masterKeyIdOf))];
  if (openingIds.every((id) => id === targetId)) {
    err('tuma keys rotate-master: TUMA_MASTER_KEY is the new key already; name the key being retired with --old-key-file (a run then only checks)');
  }
  err(`rotating to master key ${targetId}; keys wrapped today open with ${openingIds.join(', ')}`);
  const handle = createDb(cfg.database.url, 2, logger);
  try {
    const report = await rotateMasterKey(wrappedKeyStore(handle.db, opening, target), {
      chunk,
      onProgress: (p) => logger.info({ pass: p.pass, transactions: p.transactions, rewrapped: p.rewrapped }, 'master-key rotation progress'),
    });
    out(JSON.stringify(report));
    if (report.complete) {
      err(`every key is wrapped by master key ${targetId} (${report.dataKeys.rewrapped} data key(s) rewrapped in ${report.transactions} transaction(s); the unowned key ${report.unownedKey}): `
        + 'remove the old master key from every process, then destroy it');
      return 0;
    }
    err(`not complete: ${report.remaining} data key(s) still wrapped by another master key`
      + `${report.dataKeys.unopenable > 0 ? `, ${report.dataKeys.unopenable} of them opened by none of the keys given (${report.dataKeys.unopenableProgrammes.slice(0, 10).join(', ')})` : ''}: keep the old master key`);
    return 1;
  } finally {
    await handle.close();
  }
}
