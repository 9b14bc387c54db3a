// The GSMA batch index in PostgreSQL (migration 0021): a bulk account's provider batches and the
// attempt keys of their items, recorded before each batch is sent (gsma-bulk-provider.ts).
import { sql } from 'kysely';
import type { BatchIndex, BatchRecord } from '../providers/gsma/gsma-bulk-provider.js';
import type { Db } from './database.js';

interface Row { batch_key: string; account_id: string; server_correlation_id: string | null; batch_id: string | null; approval_key: string | null }

const toRecord = (r: Row): BatchRecord => ({ batchKey: r.batch_key, accountId: r.account_id, serverCorrelationId: r.server_correlation_id, batchId: r.batch_id, approvalKey: r.approval_key });

export function gsmaBatchIndex(db: Db): BatchIndex {
  return {
    async record({ batchKey, accountId, itemKeys }) {
      // One statement: the batch and its items together, or neither.
      await sql`WITH batch AS (
          INSERT INTO gsma_batches (batch_key, account_id, item_count) VALUES (${batchKey}::uuid, ${accountId}, ${itemKeys.length}) RETURNING batch_key
        )
        INSERT INTO gsma_batch_items (item_key, batch_key)
        SELECT k::uuid, (SELECT batch_key FROM batch) FROM unnest(${itemKeys.map((k) => k.toLowerCase())}::text[]) AS k`.execute(db);
    },
    async batchOf(itemKey) {
      const { rows } = await sql<Row>`SELECT b.batch_key::text AS batch_key, b.account_id, b.server_correlation_id, b.batch_id, b.approval_key::text AS approval_key
        FROM gsma_batch_items i JOIN gsma_batches b USING (batch_key) WHERE i.item_key = ${itemKey.toLowerCase()}::uuid`.execute(db);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async batchesOf(itemKeys) {
      const found = new Map<string, BatchRecord>();
      if (itemKeys.length === 0) return found;
      const { rows } = await sql<Row & { item_key: string }>`SELECT i.item_key::text AS item_key, b.batch_key::text AS batch_key, b.account_id, b.server_correlation_id, b.batch_id, b.approval_key::text AS approval_key
        FROM gsma_batch_items i JOIN gsma_batches b USING (batch_key) WHERE i.item_key = ANY(${[...new Set(itemKeys.map((k) => k.toLowerCase()))]}::uuid[])`.execute(db);
      for (const r of rows) found.set(r.item_key, toRecord(r));
      return found;
    },
    async find(batchKey) {
      const { rows } = await sql<Row>`SELECT batch_key::text AS batch_key, account_id, server_correlation_id, batch_id, approval_key::text AS approval_key
        FROM gsma_batches WHERE batch_key = ${batchKey.toLowerCase()}::uuid`.execute(db);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async accepted(batchKey, serverCorrelationId, batchId) {
      await sql`UPDATE gsma_batches SET server_correlation_id = ${serverCorrelationId.slice(0, 64)}, batch_id = COALESCE(${batchId === null ? null : batchId.slice(0, 256)}, batch_id)
        WHERE batch_key = ${batchKey.toLowerCase()}::uuid`.execute(db);
    },
    async approving(batchKey, approvalKey) {
      await sql`UPDATE gsma_batches SET approval_key = ${approvalKey}::uuid WHERE batch_key = ${batchKey.toLowerCase()}::uuid AND approval_key IS NULL`.execute(db);
    },
  };
}
