// A message no handler can ever process (malformed, unknown payout) goes to the DLQ with its
// reason and is then acknowledged: a poisoned message must not block its partition.
import type { Logger } from 'pino';
import { encode, type Topics } from './messages.js';
import type { Delivery, Transport } from './ports.js';

export async function deadLetter(deps: { transport: Transport; topics: Topics; logger: Logger }, delivery: Delivery, reason: string): Promise<void> {
  deps.logger.warn({ topic: delivery.topic, position: delivery.position, reason }, 'message sent to the DLQ');
  await deps.transport.publish(deps.topics.dlq, [
    {
      key: delivery.key,
      value: encode({ type: 'tuma.dlq', version: 1, sourceTopic: delivery.topic, reason, valueBase64: delivery.value.toString('base64') }),
    },
  ]);
}
