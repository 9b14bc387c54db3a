// The M-Pesa simulator's B2C payment requests served on a bare node:http server, in front of its
// Express app: what the load test's simulator process serves. Express's own work per request
// (routing, body-parser, res.json, ETag) cost the simulator as much CPU as the simulated payment
// itself, taken from the two cores the gateway it measures runs on. It takes a request only where
// it answers as the Express route does: a POST to the exact path, a JSON body in UTF-8 of a stated
// length within the route's limit, no content-encoding, transfer-encoding or expect. Anything else
// goes to Express untouched (nothing read).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { answerNotJson, mpesaB2cBodyMaxBytes, mpesaB2cPath, type MpesaSimulator, type SimulatorReply } from './mpesa-simulator.js';

/** What express.json takes as JSON here: application/json, in UTF-8 when a charset is named. */
const jsonType = /^application\/json\s*(?:;\s*charset="?utf-8"?\s*)?$/i;

/** A handler that answers the B2C requests it takes (true) and leaves the rest to the next one (false). */
export function bareMpesaB2c(simulator: MpesaSimulator): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== mpesaB2cPath) return false;
    const h = req.headers;
    const length = Number(h['content-length']);
    if (!jsonType.test(h['content-type'] ?? '') || h['content-encoding'] !== undefined || h['transfer-encoding'] !== undefined || h.expect !== undefined) return false;
    if (!(Number.isInteger(length) && length >= 0 && length <= mpesaB2cBodyMaxBytes)) return false;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Node ends the body at its stated length: more never comes, but nothing past the limit is kept.
      if (size <= mpesaB2cBodyMaxBytes) chunks.push(chunk);
    });
    req.once('error', () => res.destroy());
    req.once('end', () => {
      const reply = bareReply(res);
      const body = strictJson(Buffer.concat(chunks).toString('utf8'));
      if (body === undefined) return answerNotJson(reply);
      simulator.paymentRequest(h.authorization, body, reply);
    });
    return true;
  };
}

/** A JSON object or array, as express.json's strict mode reads (an empty body is {}); undefined for anything else. */
function strictJson(text: string): unknown {
  if (text.length === 0) return {};
  const first = /^[ \t\n\r]*(.)/.exec(text)?.[1];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function bareReply(res: ServerResponse): SimulatorReply {
  return {
    json(status, body) {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    },
    live: () => !res.headersSent && !res.destroyed,
  };
}
