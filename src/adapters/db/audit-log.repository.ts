// The audit log's storage (migration 0012): appends under one transaction-level advisory lock,
// and the reads of `tuma audit verify`, GET /v1/audit and the start's configuration record.
import { sql } from 'kysely';
import type { AuditLogRepo } from '../../application/ports.js';
import type { StoredAuditEvent } from '../../domain/audit.js';
import type { DbOrTx } from './database.js';

/** The advisory lock key of the audit log ('tumaaudt' in ASCII): one appender at a time, released at commit. */
export const auditLockKey = 0x74756d6161756474n;

interface EventRow {
  seq: bigint;
  at_us: bigint;
  organisation_id: string | null;
  actor: string;
  request_id: string | null;
  action: string;
  object_type: string;
  object_id: string;
  detail: Record<string, string>;
  prev_hash: Buffer | null;
  hash: Buffer;
}

const columns = sql.raw(
  'seq, organisation_id, actor, request_id, action, object_type, object_id, detail, prev_hash, hash, ' +
    // numeric epoch is exact: microseconds as an integer, no float in between
    '(extract(epoch FROM at) * 1000000)::int8 AS at_us',
);

function toEvent(r: EventRow): StoredAuditEvent {
  return {
    seq: r.seq,
    atMicros: r.at_us,
    organisationId: r.organisation_id,
    actor: r.actor,
    requestId: r.request_id,
    action: r.action,
    objectType: r.object_type,
    objectId: r.object_id,
    detail: r.detail,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export function auditLogRepository(db: DbOrTx): AuditLogRepo {
  return {
    async claimNext() {
      const isolation = await sql<{ level: string }>`SELECT current_setting('transaction_isolation') AS level`.execute(db);
      // Under REPEATABLE READ the head below would be read from a snapshot older than the lock.
      if (isolation.rows[0]?.level !== 'read committed') throw new Error(`invariant violated: an audit event is appended under READ COMMITTED, not ${isolation.rows[0]?.level}`);
      await sql`SELECT pg_advisory_xact_lock(${auditLockKey})`.execute(db);
      // A statement of its own, after the lock is granted: its snapshot sees the event the previous holder committed.
      const r = await sql<{ seq: bigint; at_us: bigint; prev_hash: Buffer | null }>`
        SELECT nextval(pg_get_serial_sequence('audit_events', 'seq')) AS seq,
               (extract(epoch FROM now()) * 1000000)::int8 AS at_us,
               (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1) AS prev_hash
      `.execute(db);
      const row = r.rows[0]!;
      return { seq: row.seq, atMicros: row.at_us, prevHash: row.prev_hash };
    },

    async insert(e) {
      await sql`
        INSERT INTO audit_events (seq, at, organisation_id, actor, request_id, action, object_type, object_id, detail, prev_hash, hash)
        OVERRIDING SYSTEM VALUE
        VALUES (${e.seq}, timestamptz 'epoch' + ${e.atMicros}::int8 * interval '1 microsecond', ${e.organisationId}, ${e.actor}, ${e.requestId},
                ${e.action}, ${e.objectType}, ${e.objectId}, ${JSON.stringify(e.detail)}::jsonb, ${e.prevHash}, ${e.hash})
      `.execute(db);
    },

    async eventsAfter(afterSeq, limit) {
      const rows = await sql<EventRow>`SELECT ${columns} FROM audit_events WHERE seq > ${afterSeq ?? 0n} ORDER BY seq LIMIT ${limit}`.execute(db);
      return rows.rows.map(toEvent);
    },

    async visibleEvents(audience, afterSeq, limit) {
      // Two index ranges (the organisation's events; the system events), merged in seq order.
      const rows = await sql<EventRow>`
        SELECT ${columns} FROM (
          (SELECT * FROM audit_events WHERE organisation_id = ${audience.organisationId} AND seq > ${afterSeq ?? 0n} ORDER BY seq LIMIT ${limit})
          UNION ALL
          (SELECT * FROM audit_events WHERE organisation_id IS NULL AND seq > ${afterSeq ?? 0n}
             AND (object_type = 'process_role' OR (object_type = 'provider_account' AND object_id = ANY(${[...audience.accountIds]}::text[])))
           ORDER BY seq LIMIT ${limit})
        ) e ORDER BY seq LIMIT ${limit}
      `.execute(db);
      return rows.rows.map(toEvent);
    },

    async lock() {
      await sql`SELECT pg_advisory_xact_lock(${auditLockKey})`.execute(db);
    },

    async latestSystemEvents(objectType, actionPrefix) {
      const rows = await sql<EventRow>`
        SELECT DISTINCT ON (object_id) ${columns} FROM audit_events
        WHERE organisation_id IS NULL AND object_type = ${objectType} AND starts_with(action, ${actionPrefix})
        ORDER BY object_id, seq DESC
      `.execute(db);
      return rows.rows.map(toEvent);
    },

    async guards() {
      const rows = await sql<{ name: string; enabled: string }>`
        SELECT t.tgname AS name, t.tgenabled AS enabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relname = 'audit_events' AND c.relnamespace = current_schema()::regnamespace
        ORDER BY t.tgname
      `.execute(db);
      // 'D' is disabled; 'O', 'A', 'R' fire (origin, always, replica).
      return rows.rows.map((r) => ({ name: r.name, enabled: r.enabled !== 'D' }));
    },
  };
}
