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

  it('when an answer is a documented error, then nothing is reported', async () => {
    const { app, problems } = appAnswering(404, { error: { code: 'NOT_FOUND', message: 'Not found.' } });
    await request(app).get('/v1/batches/3f1d7c2e-8a3b-4c5d-9e0f-1a2b3c4d5e6f');
    await settle();
    expect(problems).toEqual([]);
  });
});
