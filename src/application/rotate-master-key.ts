// Master-key rotation (issue #15 item 3): every data key, and the programme-independent (unowned)
// key, rewrapped under a new master key, in bounded transactions, while the service runs.
//
// No downtime: a wrapped key names the master key that wraps it, and a process given two master
// keys opens keys wrapped by either. The procedure (docs: `tuma keys rotate-master`):
//   1. give every process the new key beside the old one (the old one still first: it wraps new
//      keys; the new one opens), a rolling restart;
//   2. make the new key the first (it wraps new keys from then on; the old one still opens), a
//      rolling restart: during it every process opens both kinds of keys;
//   3. run this: each chunk of data keys is locked, rewrapped and committed on its own, so a process
//      loading a key reads it whole, wrapped by one key or the other; passes repeat until one finds
//      nothing more to rewrap (a key a process created under the old key meanwhile is caught);
//   4. when it reports complete, remove the old key from every process, and destroy it. Backups made
//      before hold data keys wrapped by the old key: destroying it is what erases programmes erased
//      since those backups (application/erase-programme.ts) from them too.
// Only the wrapped keys change: the data keys themselves, and so every sealed value, stay as they are.

/** Data keys rewrapped per transaction by default, and at most. */
export const rotationChunkDefault = 500;
export const rotationChunkMax = 10_000;
/** Full passes over the data keys at most (a pass is repeated only while the last one rewrapped some). */
export const rotationPassesMax = 5;
/** Unopenable data keys named in a report at most. */
export const rotationUnopenableListedMax = 100;

/** The wrapped keys, and the master keys: those given to open them and the one to rewrap them under. */
export interface WrappedKeyStore {
  /** The id of the master key keys are rewrapped under. */
  readonly targetKeyId: string;
  /**
   * One transaction: locks up to `limit` data keys not wrapped by the target, after `after` in
   * programme id order, rewraps each under the target (one no given master key opens is left as it
   * is, and named), and commits. `last`: the last programme id scanned.
   */
  rewrapDataKeys(after: string | null, limit: number): Promise<{ scanned: number; rewrapped: number; unopenable: readonly string[]; last: string | null }>;
  /** Rewraps the unowned key under the target (stored first, if it never was). */
  rewrapUnownedKey(): Promise<'rewrapped' | 'already'>;
  /** What is not wrapped by the target. */
  remaining(): Promise<{ readonly dataKeys: number; readonly unownedKey: boolean }>;
  countDataKeys(): Promise<number>;
}

export interface RotationProgress {
  readonly pass: number;
  readonly transactions: number;
  readonly rewrapped: number;
}

export interface RotationReport {
  readonly targetMasterKeyId: string;
  readonly dataKeys: {
    readonly total: number;
    readonly rewrapped: number;
    /** Data keys none of the given master keys opens (programmes whose data is lost unless that key is found): their count, and the first ids. */
    readonly unopenable: number;
    readonly unopenableProgrammes: readonly string[];
  };
  readonly unownedKey: 'rewrapped' | 'already';
  readonly passes: number;
  readonly transactions: number;
  /** Data keys still wrapped by another master key at the end. */
  readonly remaining: number;
  /** Every key is wrapped by the target: the old master key can be removed. */
  readonly complete: boolean;
}

export async function rotateMasterKey(
  store: WrappedKeyStore,
  options: { chunk?: number; onProgress?: (p: RotationProgress) => void } = {},
): Promise<RotationReport> {
  const chunk = options.chunk ?? rotationChunkDefault;
  if (!Number.isInteger(chunk) || chunk < 1 || chunk > rotationChunkMax) throw new Error(`invariant violated: a rotation chunk is 1-${rotationChunkMax} keys`);
  const unownedKey = await store.rewrapUnownedKey();
  const unopenable = new Set<string>();
  let rewrapped = 0;
  let transactions = 0;
  let passes = 0;
  while (passes < rotationPassesMax) {
    passes++;
    let after: string | null = null;
    let rewrappedThisPass = 0;
    // Bounded: each chunk moves `after` forward in programme id order; a short chunk ends the pass.
    for (;;) {
      const r = await store.rewrapDataKeys(after, chunk);
      transactions++;
      rewrapped += r.rewrapped;
      rewrappedThisPass += r.rewrapped;
      for (const id of r.unopenable) unopenable.add(id);
      options.onProgress?.({ pass: passes, transactions, rewrapped });
      if (r.scanned < chunk || r.last === null) break;
      after = r.last;
    }
    // Nothing rewrapped: nothing was left but keys no given master key opens.
    if (rewrappedThisPass === 0) break;
  }
  const remaining = await store.remaining();
  return {
    targetMasterKeyId: store.targetKeyId,
    dataKeys: { total: await store.countDataKeys(), rewrapped, unopenable: unopenable.size, unopenableProgrammes: [...unopenable].sort().slice(0, rotationUnopenableListedMax) },
    unownedKey,
    passes,
    transactions,
    remaining: remaining.dataKeys,
    complete: remaining.dataKeys === 0 && !remaining.unownedKey,
  };
}
