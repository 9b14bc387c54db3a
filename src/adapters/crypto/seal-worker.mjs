// @ts-check
// A sealing thread: seals chunks of beneficiaries (aead.mjs) for the main thread, so that a large
// batch is sealed on every core while the main thread talks to PostgreSQL. It holds no state but
// the per-thread IV pool; the keys arrive with each job and are dropped with it.
import { parentPort } from 'node:worker_threads';
import { sealBeneficiaries } from './aead.mjs';

if (!parentPort) throw new Error('seal-worker.mjs runs as a worker thread');
const port = parentPort;

port.on('message', (/** @type {{ id: number, job: import('./aead.mjs').BeneficiarySealJob }} */ message) => {
  try {
    const sealed = sealBeneficiaries(message.job);
    // Transferred, not copied: both are views over whole buffers of their own (aead.mjs).
    const transfer = /** @type {ArrayBuffer[]} */ ([sealed.bytes.buffer, sealed.spans.buffer]);
    port.postMessage({ id: message.id, bytes: sealed.bytes, spans: sealed.spans }, transfer);
  } catch (error) {
    port.postMessage({ id: message.id, error: error instanceof Error ? error.message : String(error) });
  }
});
