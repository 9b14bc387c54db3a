// The M-Pesa simulator in a process of its own, for `npm run loadtest` (issue #17 item 2): the
// gateway's CPU is then measured without its test double's. Driven by its parent over IPC:
//   {type:'faults', faults}           set the fault rules (answers {type:'ok'});
//   {type:'executions', keys}         executions per idempotency key ({type:'executions', counts});
//   {type:'captured'}                 the callbacks captured so far ({type:'captured', callbacks});
//   {type:'capturedCount'}            how many ({type:'capturedCount', count});
//   {type:'warnings'}                 its warnings so far, counted by message ({type:'warnings', warnings}).
// It also serves POST /__capture/* : a gateway whose PUBLIC_BASE_URL points there has its result
// callbacks kept here, answered 200, instead of delivered (the callback storm replays them).
// Ends when its parent disconnects.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { pino } from 'pino';
import { bareMpesaB2c } from '../src/simulator/mpesa-bare.js';
import { createMpesaSimulator, type MpesaFaults } from '../src/simulator/mpesa-simulator.js';

interface Settings {
  readonly consumerKey: string;
  readonly consumerSecret: string;
  readonly callbackDelayMs: number;
}
type Message = { type: 'faults'; faults: MpesaFaults } | { type: 'executions'; keys: string[] } | { type: 'captured' } | { type: 'capturedCount' } | { type: 'warnings' } | { type: 'drained' };

/** Callbacks captured at most: more than any scenario asks for. */
const capturedMax = 200_000;

process.once('message', (settings: Settings) => {
  // The simulator's warnings (a result callback refused or timed out, retried) are counted per
  // message, not printed: a storm of them would bury the run's output. {type:'warnings'} reads them.
  const warnings = new Map<string, number>();
  const logger = pino({ level: 'warn' }, {
    write(line: string) {
      // With the HTTP status where the line has one: a refusal says which (503 overloaded, 4xx refused, ...).
      const status = /"status":(\d{3})/.exec(line)?.[1];
      const msg = `${/"msg":"([^"]*)"/.exec(line)?.[1] ?? '?'}${status ? ` (HTTP ${status})` : ''}`;
      warnings.set(msg, (warnings.get(msg) ?? 0) + 1);
    },
  });
  const simulator = createMpesaSimulator({ ...settings, logger });
  // One per callback address (each attempt's token is its own): the simulator's retries of a callback answered late are not kept twice.
  const captured: { path: string; body: string }[] = [];
  const capturedPaths = new Set<string>();
  const app = express();
  app.disable('x-powered-by');
  app.post(/^\/__capture\/.*/, express.raw({ type: () => true, limit: '64kb' }), (req, res) => {
    const path = req.path.slice('/__capture'.length);
    if (captured.length < capturedMax && !capturedPaths.has(path)) {
      capturedPaths.add(path);
      captured.push({ path, body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '' });
    }
    res.json({ ResultCode: 0, ResultDesc: 'Accepted' });
  });
  app.use(simulator.router);
  // B2C payment requests are answered around Express (src/simulator/mpesa-bare.ts): the double's
  // CPU per payout, on the cores the gateway runs on, is then the payment's, not Express's.
  const b2c = bareMpesaB2c(simulator);
  const server = createServer((req, res) => {
    if (!b2c(req, res)) app(req, res);
  });
  server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port }));
  server.keepAliveTimeout = 60_000;
  process.on('message', (m: Message) => {
    if (m.type === 'faults') {
      simulator.setFaults(m.faults);
      process.send?.({ type: 'ok' });
    } else if (m.type === 'executions') {
      process.send?.({ type: 'executions', counts: m.keys.map((k) => simulator.executions(k)) });
    } else if (m.type === 'warnings') {
      process.send?.({ type: 'warnings', warnings: Object.fromEntries(warnings) });
    } else if (m.type === 'capturedCount') {
      process.send?.({ type: 'capturedCount', count: captured.length });
    } else if (m.type === 'captured') {
      process.send?.({ type: 'captured', callbacks: captured });
    } else if (m.type === 'drained') {
      // Answered once every answer held and every callback due has been delivered (or given up on).
      void simulator.drained().then(() => process.send?.({ type: 'drained' }));
    }
  });
  process.once('disconnect', () => {
    simulator.close();
    server.close();
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 200).unref();
  });
});
