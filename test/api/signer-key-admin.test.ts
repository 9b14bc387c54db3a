// Administrators register and revoke signer keys; rotation needs nothing special. Real PostgreSQL.
import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { bearer, postJson, startTestApi, type TestApi } from '../support/api.js';
import { batchDocument, kenyanPayout, setUpProgramme, sign, type Maker, type Scenario } from '../support/fixtures.js';

let api: TestApi;
let s: Scenario;
let admin: string;
beforeAll(async () => {
  api = await startTestApi();
  s = await setUpProgramme(api.persistence, 100_000_00n);
  admin = await bearer(s.organisationId, 'admin');
});
afterAll(async () => api?.close());

async function keyPair(alg: 'ES256' | 'EdDSA' | 'PS256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, publicJwk: await exportJWK(publicKey), privateJwk: await exportJWK(privateKey) };
}

/** Registrations name the key's holder; the maker submitting in these tests is `programme_manager-person`. */
const register = (body: unknown, token = admin) =>
  request(api.app).post('/v1/signer-keys').set('authorization', token).set('content-type', 'application/json')
    .send(JSON.stringify(body && typeof body === 'object' && !Array.isArray(body) ? { holder: 'programme_manager-person', ...body } : body));

async function registered(role: 'maker' | 'approver', extra: Record<string, unknown> = {}): Promise<Maker> {
  const k = await keyPair('ES256');
  const res = await register({ role, alg: 'ES256', publicJwk: k.publicJwk, ...extra });
  expect(res.status).toBe(201);
  return { kid: res.body.kid, privateKey: k.privateKey, publicJwk: k.publicJwk };
}

const submitWith = async (key: Maker) =>
  postJson(api.app, '/v1/batches', await bearer(s.organisationId, 'programme_manager'), await sign(batchDocument(s, [kenyanPayout('k-1', '100.00')]), key));

describe('POST /v1/signer-keys', () => {
  it.each(['ES256', 'EdDSA', 'PS256'] as const)('when an admin registers an %s public key, then 201 with its RFC 7638 thumbprint as kid', async (alg) => {
    const k = await keyPair(alg);
    const res = await register({ role: 'maker', alg, publicJwk: k.publicJwk });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kid: await calculateJwkThumbprint(k.publicJwk, 'sha256'), organisationId: s.organisationId, role: 'maker', alg, holder: 'programme_manager-person', status: 'active', revokedAt: null });
    expect(res.body.publicJwk).not.toHaveProperty('d');
  });

  it('when the same key is registered again alike, then 200 saying replayed: true; with another role, then 409 SIGNER_KEY_EXISTS', async () => {
    const k = await keyPair('ES256');
    const first = await register({ role: 'approver', alg: 'ES256', publicJwk: k.publicJwk });
    expect({ status: first.status, replayed: first.body.replayed }).toEqual({ status: 201, replayed: false });
    const again = await register({ role: 'approver', alg: 'ES256', publicJwk: k.publicJwk });
    expect({ status: again.status, replayed: again.body.replayed }).toEqual({ status: 200, replayed: true });
    expect(again.body).toEqual({ ...first.body, replayed: true });
    const clash = await register({ role: 'maker', alg: 'ES256', publicJwk: k.publicJwk });
    expect({ status: clash.status, code: clash.body.error?.code }).toEqual({ status: 409, code: 'SIGNER_KEY_EXISTS' });
  });

  it.each<[string, () => Promise<unknown>, number, string]>([
    ['a private JWK', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).privateJwk }), 422, 'SIGNER_KEY_INVALID'],
    ['an RSA key of 1024 bits', async () => ({ role: 'maker', alg: 'PS256', publicJwk: generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) }), 422, 'SIGNER_KEY_INVALID'],
    ['an EC key declared as EdDSA', async () => ({ role: 'maker', alg: 'EdDSA', publicJwk: (await keyPair('ES256')).publicJwk }), 422, 'SIGNER_KEY_INVALID'],
    ['a JWK whose point is not on the curve', async () => ({ role: 'maker', alg: 'ES256', publicJwk: { ...(await keyPair('ES256')).publicJwk, y: Buffer.alloc(32, 7).toString('base64url') } }), 422, 'SIGNER_KEY_INVALID'],
    ['notAfter before notBefore', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, notBefore: new Date(Date.now() + 7_200_000).toISOString(), notAfter: new Date(Date.now() + 3_600_000).toISOString() }), 422, 'SIGNER_KEY_INVALID'],
    ['notBefore an hour ago', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, notBefore: new Date(Date.now() - 3_600_000).toISOString() }), 422, 'SIGNER_KEY_INVALID'],
    ['notBefore not a date', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, notBefore: 'tomorrow' }), 422, 'SIGNER_KEY_INVALID'],
    ['an unknown member', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, label: 'x' }), 422, 'SIGNER_KEY_INVALID'],
    ['another organisation named', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, organisationId: 'org-other' }), 422, 'SIGNER_KEY_INVALID'],
    ['no holder', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, holder: undefined }), 422, 'SIGNER_KEY_INVALID'],
    ['an empty holder', async () => ({ role: 'maker', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk, holder: '' }), 422, 'SIGNER_KEY_INVALID'],
    ['role admin', async () => ({ role: 'admin', alg: 'ES256', publicJwk: (await keyPair('ES256')).publicJwk }), 422, 'SIGNER_KEY_INVALID'],
    ['alg HS256', async () => ({ role: 'maker', alg: 'HS256', publicJwk: { kty: 'oct', k: 'c2VjcmV0' } }), 400, 'JWS_ALG_NOT_ALLOWED'],
    ['alg none', async () => ({ role: 'maker', alg: 'none', publicJwk: (await keyPair('ES256')).publicJwk }), 400, 'JWS_ALG_NOT_ALLOWED'],
    ['a huge JWK', async () => ({ role: 'maker', alg: 'ES256', publicJwk: { ...(await keyPair('ES256')).publicJwk, x5c: ['A'.repeat(10_000)] } }), 422, 'SIGNER_KEY_INVALID'],
  ])('when the registration has %s, then it is refused with its code and nothing is stored', async (_name, body, status, code) => {
    const before = await api.footprint();
    const res = await register(await body());
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status, code });
    expect(await api.footprint()).toEqual(before);
  });

  it('when a non-admin or nobody registers, then 403 / 401', async () => {
    const k = await keyPair('ES256');
    for (const role of ['programme_manager', 'approver', 'finance', 'auditor']) {
      expect((await register({ role: 'maker', alg: 'ES256', publicJwk: k.publicJwk }, await bearer(s.organisationId, role))).status).toBe(403);
    }
    expect((await request(api.app).post('/v1/signer-keys').send({})).status).toBe(401);
  });
});

describe('reading keys', () => {
  it("when an auditor lists keys, then only the organisation's own come, paged and filtered by role", async () => {
    const other = await setUpProgramme(api.persistence, 0n);
    const auditor = await bearer(s.organisationId, 'auditor');
    const kids: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 50; i++) {
      const res: request.Response = await request(api.app).get('/v1/signer-keys').query({ limit: '2', ...(cursor ? { cursor } : {}) }).set('authorization', auditor);
      expect(res.status).toBe(200);
      for (const k of res.body.items) expect(k.organisationId).toBe(s.organisationId);
      kids.push(...res.body.items.map((k: { kid: string }) => k.kid));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(kids).toContain(s.maker.kid);
    expect(kids).not.toContain(other.maker.kid);
    expect(new Set(kids).size).toBe(kids.length);
    const approvers = await request(api.app).get('/v1/signer-keys?role=approver').set('authorization', auditor);
    expect(approvers.body.items.every((k: { role: string }) => k.role === 'approver')).toBe(true);
    expect((await request(api.app).get(`/v1/signer-keys/${other.maker.kid}`).set('authorization', auditor)).status).toBe(404);
    expect((await request(api.app).get(`/v1/signer-keys/${s.maker.kid}`).set('authorization', auditor)).body.kid).toBe(s.maker.kid);
    expect((await request(api.app).get('/v1/signer-keys?role=owner').set('authorization', auditor)).status).toBe(400);
  });
});

describe('revocation and rotation', () => {
  const revoke = (kid: string, body?: unknown) => {
    const r = request(api.app).post(`/v1/signer-keys/${kid}/revoke`).set('authorization', admin);
    return body === undefined ? r : r.set('content-type', 'application/json').send(JSON.stringify(body));
  };

  it('when a key is revoked now, then batches signed with it are refused JWS_KEY_NOT_VALID', async () => {
    const key = await registered('maker');
    expect((await submitWith(key)).status).toBe(201);
    const res = await revoke(key.kid);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('revoked');
    const refused = await submitWith(key);
    expect({ status: refused.status, code: refused.body.error?.code }).toEqual({ status: 401, code: 'JWS_KEY_NOT_VALID' });
  });

  it('when a key is revoked at a future instant, then it signs until then', async () => {
    const key = await registered('maker');
    const res = await revoke(key.kid, { at: new Date(Date.now() + 3_600_000).toISOString() });
    expect(res.body).toMatchObject({ status: 'active', revokedAt: expect.any(String) });
    expect((await submitWith(key)).status).toBe(201);
  });

  it('when a revocation reaches into the past, then 422 and the key is unchanged', async () => {
    const key = await registered('maker');
    const res = await revoke(key.kid, { at: new Date(Date.now() - 3_600_000).toISOString() });
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 422, code: 'SIGNER_KEY_INVALID' });
    expect((await submitWith(key)).status).toBe(201);
  });

  it("when another organisation's key is revoked, then 404 and it still signs", async () => {
    const other = await setUpProgramme(api.persistence, 0n);
    expect((await revoke(other.maker.kid)).status).toBe(404);
  });

  it('when keys rotate, then the old and the new both sign until the old one is revoked, then only the new', async () => {
    const old = await registered('maker');
    const next = await registered('maker', { notAfter: new Date(Date.now() + 86_400_000 * 365).toISOString() });
    expect((await submitWith(old)).status).toBe(201);
    expect((await submitWith(next)).status).toBe(201);
    expect((await revoke(old.kid)).status).toBe(200);
    expect((await submitWith(old)).status).toBe(401);
    expect((await submitWith(next)).status).toBe(201);
  });
});
