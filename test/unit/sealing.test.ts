// Sealing a chunk of beneficiaries into one buffer (aead.mjs), on the calling thread and on the
// sealing threads (seal-pool.ts): every value opens, under its own row's additional data only, to
// its own plaintext; a bad job fails alone and the pool goes on; a closed pool refuses work.
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { aadOf, blindIndexBytes, open, seal, sealBeneficiaries, sealOverheadBytes, type BeneficiarySealJob, type SealedBeneficiaryRows } from '../../src/adapters/crypto/aead.mjs';
import { SealPool } from '../../src/adapters/crypto/seal-pool.js';

const key = randomBytes(32);
const indexKey = randomBytes(32);

function job(rows: { id: string; msisdn: string; name: string | null }[]): BeneficiarySealJob {
  return { key, indexKey, programmeId: 'prog-1', subjectIds: rows.map((r) => r.id), msisdns: rows.map((r) => r.msisdn), names: rows.map((r) => r.name) };
}

/** Every row read back from the packed buffer, as the payout repository slices it. */
function unpack(j: BeneficiarySealJob, sealed: SealedBeneficiaryRows) {
  return j.subjectIds.map((id, i) => {
    const at = sealed.spans[i * 3]!;
    const msisdnLen = sealed.spans[i * 3 + 1]!;
    const nameLen = sealed.spans[i * 3 + 2]!;
    const hash = sealed.bytes.subarray(at + msisdnLen, at + msisdnLen + blindIndexBytes);
    const nameAt = at + msisdnLen + blindIndexBytes;
    return {
      msisdn: open(key, sealed.bytes.subarray(at, at + msisdnLen), aadOf('prog-1', id, 'msisdn')).toString('utf8'),
      hashOk: hash.equals(createHmac('sha256', indexKey).update(j.msisdns[i]!).digest()),
      name: nameLen < 0 ? null : open(key, sealed.bytes.subarray(nameAt, nameAt + nameLen), aadOf('prog-1', id, 'name')).toString('utf8'),
    };
  });
}

const rowArb = fc.record({ id: fc.uuid(), msisdn: fc.stringMatching(/^\+[1-9][0-9]{6,14}$/), name: fc.option(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }), { nil: null }) });

describe('sealing a chunk of beneficiaries', () => {
  it('when any rows are sealed, then each value opens to its own plaintext and the blind index is the HMAC of the number', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { minLength: 1, maxLength: 40 }), (rows) => {
        const j = job(rows);
        const sealed = sealBeneficiaries(j);
        expect(unpack(j, sealed)).toEqual(rows.map((r) => ({ msisdn: r.msisdn, hashOk: true, name: r.name })));
        // Exactly the values and nothing else: the buffer is as long as its parts.
        const size = rows.reduce((n, r) => n + sealOverheadBytes + Buffer.byteLength(r.msisdn) + blindIndexBytes + (r.name === null ? 0 : sealOverheadBytes + Buffer.byteLength(r.name)), 0);
        expect(sealed.bytes.length).toBe(size);
      }),
      { numRuns: 50 },
    );
  });

  it('when a sealed value is opened under another row\'s or field\'s additional data, or altered, then it does not open', () => {
    const j = job([{ id: 'p-1', msisdn: '+254712345678', name: 'Amina' }, { id: 'p-2', msisdn: '+254712345679', name: null }]);
    const sealed = sealBeneficiaries(j);
    const first = sealed.bytes.subarray(0, sealed.spans[1]!);
    expect(open(key, first, aadOf('prog-1', 'p-1', 'msisdn')).toString()).toBe('+254712345678');
    expect(() => open(key, first, aadOf('prog-1', 'p-2', 'msisdn'))).toThrow();
    expect(() => open(key, first, aadOf('prog-1', 'p-1', 'name'))).toThrow();
    expect(() => open(key, first, aadOf('prog-2', 'p-1', 'msisdn'))).toThrow();
    const altered = Buffer.from(first);
    altered[altered.length - 1]! ^= 1;
    expect(() => open(key, altered, aadOf('prog-1', 'p-1', 'msisdn'))).toThrow();
  });

  it('when the same value is sealed twice, then the two ciphertexts differ (a fresh IV each time)', () => {
    const a = seal(key, Buffer.from('+254712345678'), 'aad');
    const b = seal(key, Buffer.from('+254712345678'), 'aad');
    expect(a.equals(b)).toBe(false);
    expect(a.subarray(1, 13).equals(b.subarray(1, 13))).toBe(false);
  });

  it('when a job has one name too few, then it is refused', () => {
    expect(() => sealBeneficiaries({ ...job([{ id: 'p-1', msisdn: '+254712345678', name: null }]), names: [] })).toThrow(/one msisdn and one name/);
  });
});

describe('the sealing threads', () => {
  it('when chunks are sealed on the pool, then each comes back whole and opens, however many are in flight', async () => {
    const pool = new SealPool(2);
    try {
      const jobs = Array.from({ length: 12 }, (_, k) =>
        job(Array.from({ length: 200 }, (_, i) => ({ id: `p-${k}-${i}`, msisdn: `+2547${String(10_000_000 + k * 1000 + i)}`, name: i % 2 ? `Name ${k}/${i} ü` : null }))),
      );
      const sealed = await Promise.all(jobs.map((j) => pool.seal(j)));
      sealed.forEach((s, k) => {
        const j = jobs[k]!;
        expect(unpack(j, s)).toEqual(j.msisdns.map((m, i) => ({ msisdn: m, hashOk: true, name: j.names[i] })));
      });
    } finally {
      await pool.close();
    }
  });

  it('when a job fails on a thread, then only that job is refused and the pool keeps sealing', async () => {
    const pool = new SealPool(1);
    try {
      const good = job([{ id: 'p-1', msisdn: '+254712345678', name: 'Amina' }]);
      const [bad, ok] = await Promise.allSettled([pool.seal({ ...good, names: [] }), pool.seal(good)]);
      expect(bad).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/^sealing failed: .*one msisdn and one name/) } });
      expect(ok.status).toBe('fulfilled');
    } finally {
      await pool.close();
    }
  });

  it('when the pool is closed, then it refuses work; a pool of 0 or too many threads cannot be made', async () => {
    const pool = new SealPool(1);
    await pool.close();
    await expect(pool.seal(job([{ id: 'p-1', msisdn: '+254712345678', name: null }]))).rejects.toThrow(/closed/);
    expect(() => new SealPool(0)).toThrow();
    expect(() => new SealPool(17)).toThrow();
  });
});
