// The API tests check every answer against contracts/openapi.yaml (test/support/api.ts). This
// shows the check bites: answers outside the contract are reported, answers inside it are not.
import express from 'express';
import request from 'supertest';
import { contractRecorder } from '../support/api.js';

function appAnswering(status: number, body: unknown) {
  const problems: string[] = [];
  const app = express();
  app.use(contractRecorder(problems));
  app.get('/v1/batches/:batchId', (_req, res) => void res.status(status).json(body));
  app.get('/healthz', (_req, res) => void res.status(status).json(body));
  return { app, problems };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('the API answers are checked against the contract', () => {
  it('when an answer has a body the schema refuses, then it is reported', async () => {
    const { app, problems } = appAnswering(200, { batchId: 'not a batch view' });
    await request(app).get('/v1/batches/3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f');
    await settle();
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/^GET \/v1\/batches\/\{batchId\} 200: /);
  });

  it('when an answer has a status the contract does not document, then it is reported', async () => {
    const { app, problems } = appAnswering(418, { error: { code: 'TEAPOT', message: 'no' } });
    await request(app).get('/v1/batches/3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f');
    await settle();
    expect(problems).toEqual(['GET /v1/batches/{batchId}: HTTP 418 is not documented']);
  });

  it('when an idempotent operation answers without saying whether it was a replay, then it is reported; with replayed, it is not', async () => {
    const view = {
      batchId: '3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f', programmeId: 'p', state: 'approved', currency: 'KES', payoutCount: 1, total: '10.00', receivedAt: '2026-12-07T10:00:00.000Z',
      approvals: { required: 0, received: 0, approvers: [] }, payouts: { approved: { count: 1, amount: '10.00' } }, byProvider: { mpesa: { approved: { count: 1, amount: '10.00' } } }, rejectedRows: [],
    };
    const answered = async (body: unknown) => {
      const problems: string[] = [];
      const app = express();
      app.use(contractRecorder(problems));
      app.post('/v1/batches', (_req, res) => void res.status(200).json(body));
      await request(app).post('/v1/batches').set('content-type', 'application/jose+json').send('{}');
      await settle();
      return problems;
    };
    expect((await answered(view)).join('\n')).toMatch(/^POST \/v1\/batches 200: .*replayed/);
    expect(await answered({ ...view, replayed: true })).toEqual([]);
    // A row error shown with a row counted from 0, or without its sentence, is outside the contract.
    expect(await answered({ ...view, replayed: true, rejectedRows: [{ row: 0, field: 'msisdn', code: 'MSISDN_INVALID', message: 'The phone number is not a valid E.164 number.' }] })).not.toEqual([]);
    expect(await answered({ ...view, replayed: true, rejectedRows: [{ row: 1, field: 'msisdn', code: 'MSISDN_INVALID' }] })).not.toEqual([]);
  });

  it('when an answer is a documented error, then nothing is reported', async () => {
    const { app, problems } = appAnswering(404, { error: { code: 'NOT_FOUND', message: 'Not found.' } });
    await request(app).get('/v1/batches/3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f');
    await settle();
    expect(problems).toEqual([]);
  });
});
