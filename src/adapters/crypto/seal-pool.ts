// A fixed pool of sealing threads (seal-worker.mjs). Jobs go to the thread with the fewest in
// flight; a thread that dies fails its own jobs (the batch's transaction rolls back, nothing is
// stored) and is replaced for the next job. Closing terminates every thread.
import { Worker } from 'node:worker_threads';
import type { BeneficiarySealJob, SealedBeneficiaryRows } from './aead.mjs';

/** Sealing threads at most (the config's SEAL_THREADS is bounded by it). */
export const sealThreadsMax = 16;

interface Pending {
  readonly resolve: (rows: SealedBeneficiaryRows) => void;
  readonly reject: (error: Error) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
}

type Reply = { id: number; bytes: Uint8Array; spans: Int32Array } | { id: number; error: string };

export class SealPool {
  private readonly threads: (Thread | null)[];
  private nextId = 1;
  private closed = false;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1 || size > sealThreadsMax) throw new Error(`invariant violated: 1..${sealThreadsMax} sealing threads`);
    this.threads = Array.from({ length: size }, () => null);
    // Started now, not on the first batch: a thread takes tens of milliseconds to load.
    for (let slot = 0; slot < size; slot++) this.start(slot);
  }

  seal(job: BeneficiarySealJob): Promise<SealedBeneficiaryRows> {
    if (this.closed) return Promise.reject(new Error('the sealing pool is closed'));
    const slot = this.leastBusy();
    const thread = this.threads[slot] ?? this.start(slot);
    const id = this.nextId++;
    return new Promise<SealedBeneficiaryRows>((resolve, reject) => {
      // Referenced while it has work, so a caller awaiting a job is not left by an exiting process.
      if (thread.pending.size === 0) thread.worker.ref();
      thread.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.map((t) => t?.worker.terminate()));
  }

  private leastBusy(): number {
    let best = 0;
    for (let i = 1; i < this.threads.length; i++) {
      if ((this.threads[i]?.pending.size ?? 0) < (this.threads[best]?.pending.size ?? 0)) best = i;
    }
    return best;
  }

  private start(slot: number): Thread {
    const worker = new Worker(new URL('./seal-worker.mjs', import.meta.url));
    // An idle pool never keeps the process alive.
    worker.unref();
    const thread: Thread = { worker, pending: new Map() };
    const fail = (error: Error) => {
      if (this.threads[slot] === thread) this.threads[slot] = null;
      for (const p of thread.pending.values()) p.reject(error);
      thread.pending.clear();
    };
    worker.on('message', (reply: Reply) => {
      const p = thread.pending.get(reply.id);
      if (!p) return;
      thread.pending.delete(reply.id);
      if (thread.pending.size === 0) thread.worker.unref();
      if ('error' in reply) p.reject(new Error(`sealing failed: ${reply.error}`));
      else p.resolve({ bytes: Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength), spans: reply.spans });
    });
    worker.on('error', (error) => fail(error));
    worker.on('exit', (code) => fail(new Error(`a sealing thread exited (${code})`)));
    this.threads[slot] = thread;
    return thread;
  }
}
