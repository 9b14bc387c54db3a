// Driving the ledger chainer in tests.
//
// The chainer only links up to a horizon proven final, and that horizon is the cluster's oldest
// running transaction: with jest workers running other tests against other databases of the same
// PostgreSQL, it can take a while to move. So tests wait for the chain by time, not by a count of steps.
import { chainOnce } from '../../src/application/ledger-chain.js';
import type { ChainHead, Persistence } from '../../src/application/ports.js';

/** How long a test waits for the chain to reach a seq before it fails. */
export const chainWaitMaxMs = 30_000;
const chainPollMs = 20;

/** Runs the chainer until its head is `target`; throws once past it or after `chainWaitMaxMs`. */
export async function chainThrough(persistence: Persistence, target: bigint | null): Promise<ChainHead> {
  const deadline = Date.now() + chainWaitMaxMs;
  for (;;) {
    const step = await chainOnce(persistence);
    if (step.head.seq === target) return step.head;
    if (target !== null && step.head.seq !== null && step.head.seq > target) throw new Error(`the chain passed seq ${target} (head ${step.head.seq})`);
    if (Date.now() > deadline) throw new Error(`the chain did not reach seq ${target} in ${chainWaitMaxMs} ms (head ${step.head.seq ?? 'none'})`);
    await new Promise((r) => setTimeout(r, chainPollMs));
  }
}
