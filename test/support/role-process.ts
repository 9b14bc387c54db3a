// Tuma's roles as OS processes of their own (`node <build>/src/main.js <role>`), for the tests that
// kill one with SIGKILL and start it again (issue #6 item 8): a private build of the code they run,
// the processes (each killed when the test process ends, however it ends), and the Kafka group
// coordinator told that a killed member is gone.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';

export interface TumaBuild {
  /** The compiled entry point, `<dir>/src/main.js`. */
  readonly main: string;
  /** A data directory for dev mode's files (the demo maker key). */
  readonly dataDir: string;
  /** The preload that ends a role process whose parent is gone. */
  readonly guard: string;
  remove(): void;
}

/**
 * Compiles src/ (tsconfig.build.json, as `npm run build` does) into a temporary directory of its
 * own, so that it neither needs nor overwrites dist/, and two runs never write the same files.
 */
export async function buildTuma(timeoutMs: number): Promise<TumaBuild> {
  const repo = path.resolve('.');
  const dir = mkdtempSync(path.join(tmpdir(), 'tuma-build-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', dir], { cwd: repo, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) =>
        error ? reject(new Error(`the build failed (${error.message}):\n${stdout}${stderr}`)) : resolve(),
      );
    });
    // The compiled files resolve their packages from the repository, as ES modules.
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const dataDir = path.join(dir, 'data');
    mkdirSync(dataDir);
    const guard = path.join(dir, 'orphan-guard.mjs');
    writeFileSync(
      guard,
      [
        '// Ends this role process when the test process that started it is gone: no orphan outlives a crashed test run.',
        'const parent = process.ppid;',
        "setInterval(() => { if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL'); }, 500).unref();",
        '',
      ].join('\n'),
    );
    return { main: path.join(dir, 'src', 'main.js'), dataDir, guard, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

export interface RoleProcess {
  readonly role: string;
  readonly pid: number;
  /** Resolves when the process has ended (killed or exited). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** Sends SIGKILL now (synchronously); `exited` says when it is gone. */
  kill(): void;
  /** Its last lines of output, for a failure's message. */
  output(): string;
}

const live = new Set<ChildProcess>();
const outputLinesKept = 200;
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts `node <build> <role>` with exactly `env` (plus PATH) and resolves once it logged that it
 * runs (LOG_LEVEL must be info or lower); a process that ends or stays silent past `readyTimeoutMs`
 * is killed and its output thrown.
 */
export async function startRole(build: TumaBuild, role: string, env: Readonly<Record<string, string>>, readyTimeoutMs: number): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--import', pathToFileURL(build.guard).href, build.main, role], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${role}: the process did not start`);
  live.add(child);
  const lines: string[] = [];
  let partial = '';
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const take = (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line.includes('"msg":"tuma is running"')) ready();
      lines.push(line);
      if (lines.length > outputLinesKept) lines.shift();
    }
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  let ended = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      ended = true;
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  const handle: RoleProcess = {
    role,
    pid: child.pid,
    exited,
    running: () => !ended,
    kill: () => void (ended || child.kill('SIGKILL')),
    output: () => [...lines, partial].join('\n'),
  };
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    isReady.then(() => 'ready' as const),
    exited.then(() => 'exited' as const),
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), readyTimeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'ready') {
    handle.kill();
    await exited;
    throw new Error(`${role} ${outcome === 'exited' ? 'ended before it ran' : `did not run within ${readyTimeoutMs} ms`}:\n${handle.output()}`);
  }
  return handle;
}

/** Kills every role process still running and waits until each has ended. */
export async function killRoles(roles: readonly (RoleProcess | undefined)[]): Promise<void> {
  for (const r of roles) r?.kill();
  await Promise.all(roles.map((r) => r?.exited));
}

/**
 * Removes every member of these consumer groups at their coordinator (Kafka's LeaveGroup, sent on
 * the dead members' behalf), as the coordinator itself does once a member's session times out
 * (30 s for Tuma's consumers). A member killed with SIGKILL never leaves: without this, a restarted
 * role waits out the session timeout before the group gives it the partitions. Call it only when
 * no live process is a member. Answers how many members were removed.
 */
export async function evictGroupMembers(brokers: readonly string[], groupIds: readonly string[], timeoutMs = 10_000): Promise<number> {
  const admin = new Kafka({ clientId: 'tuma-test-evict', brokers: [...brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([...groupIds]);
    let removed = 0;
    for (const group of groups) {
      if (group.members.length === 0) continue;
      const [host, port] = splitHostPort(brokers[0]!);
      // FindCoordinator v0: key → error_code, node_id, host, port.
      const found = await kafkaRequest(host, port, 10, 0, kafkaString(group.groupId), timeoutMs);
      const error = found.readInt16BE(0);
      if (error !== 0) throw new Error(`FindCoordinator ${group.groupId}: Kafka error ${error}`);
      const hostLength = found.readInt16BE(6);
      const coordinatorHost = found.toString('utf8', 8, 8 + hostLength);
      const coordinatorPort = found.readInt32BE(8 + hostLength);
      for (const member of group.members) {
        // LeaveGroup v1: group_id, member_id → throttle_time_ms, error_code (25: already gone).
        const left = await kafkaRequest(coordinatorHost, coordinatorPort, 13, 1, Buffer.concat([kafkaString(group.groupId), kafkaString(member.memberId)]), timeoutMs);
        const code = left.readInt16BE(4);
        if (code !== 0 && code !== 25) throw new Error(`LeaveGroup ${group.groupId}/${member.memberId}: Kafka error ${code}`);
        if (code === 0) removed += 1;
      }
    }
    return removed;
  } finally {
    await admin.disconnect();
  }
}

function splitHostPort(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at), Number(address.slice(at + 1))];
}

/** A Kafka protocol STRING: int16 length, UTF-8 bytes. */
function kafkaString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(2);
  length.writeInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** One request (header v1) on a connection of its own; answers the response body after the correlation id. */
function kafkaRequest(host: string, port: number, apiKey: number, apiVersion: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
  const correlationId = 1;
  const header = Buffer.alloc(8);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  const payload = Buffer.concat([header, kafkaString('tuma-test-evict'), body]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(payload.length);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`Kafka request ${apiKey} to ${host}:${port}: no answer within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      socket.destroy();
      if (received.readInt32BE(4) !== correlationId) return reject(new Error(`Kafka request ${apiKey}: answer to another request`));
      resolve(received.subarray(8, 4 + received.readInt32BE(0)));
    });
    socket.connect(port, host, () => socket.write(Buffer.concat([size, payload])));
  });
}
