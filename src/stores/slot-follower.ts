/**
 * Follows a logical slot over a replication connection (`START_REPLICATION`), as pgcopydb's
 * follower and PeerDB do: the walsender decodes each WAL record once, as it is written, and what
 * the plan's tables changed is kept in the control database (FollowedChanges) for the rounds.
 * The slot is confirmed only as far as rounds applied (`confirmed` in the follow state): a
 * follower that dies loses nothing, and the next one starts again from the slot's position.
 */
import pg from 'pg';
import { FollowBuffer, type EntityTable } from '../core/followed-changes';
import { parseLsn, PgoutputDecoder } from '../core/pgoutput';
import { parseServerMessage, standbyStatusUpdate, startReplicationCommand } from '../core/replication-stream';
import type { FollowedChanges } from './followed-changes';

/** How often what the buffer holds is written, and the server asked how far it has decoded. */
const TICK_MS = 100;

/** Rows held before the stream is paused until they are written: what bounds the follower's memory, whatever a transaction's size. */
export const DEFAULT_HOLD_ROWS = 50_000;

export interface FollowOptions {
  migrationId: string;
  sourceUrl: string;
  slot: string;
  publication: string;
  /** Where to start: the slot's confirmed position. */
  from: string;
  /** Plan tables by `schema.table`. */
  tables: ReadonlyMap<string, EntityTable>;
  followed: FollowedChanges;
  /** Called every tick: the activity's heartbeat (throws once the activity is cancelled). */
  beat: () => void;
  signal: AbortSignal;
  /** At most about this many rows are held in memory (DEFAULT_HOLD_ROWS). */
  holdRows?: number;
}

/** Streams until `signal` aborts (resolves) or the connection or a write fails (rejects). */
export async function followSlot(o: FollowOptions): Promise<void> {
  const client = new pg.Client({ connectionString: o.sourceUrl, replication: 'database' } as pg.ClientConfig);
  const decoder = new PgoutputDecoder({ keyColumnsOf: (schema, table) => (o.tables.has(`${schema}.${table}`) ? [o.tables.get(`${schema}.${table}`)!.key] : undefined) });
  const buffer = new FollowBuffer(o.tables);
  let failure: Error | undefined;
  let confirmed = parseLsn(o.from);
  let received = confirmed;
  const fail = (err: unknown) => {
    failure ??= err instanceof Error ? err : new Error(String(err));
  };
  client.on('error', fail);
  await client.connect();
  const connection = (client as unknown as { connection: { on(event: 'copyData', f: (msg: { chunk: Buffer }) => void): void; sendCopyFromChunk(b: Buffer): void; stream: NodeJS.ReadableStream } }).connection;
  const holdRows = o.holdRows ?? DEFAULT_HOLD_ROWS;
  // Backpressure: past holdRows, the socket is not read until the rows are written (the walsender
  // waits on TCP); what the socket had already given pg is still parsed, a chunk at most.
  let paused = false;
  const status = (replyRequested: boolean) => connection.sendCopyFromChunk(standbyStatusUpdate({ written: received, flushed: confirmed, applied: confirmed, nowMs: Date.now(), replyRequested }));
  connection.on('copyData', ({ chunk }) => {
    try {
      const m = parseServerMessage(chunk);
      if (m.kind === 'xlog') {
        buffer.onMessage(decoder.decode(m.data), m.walStart);
        if (!paused && buffer.held >= holdRows) {
          paused = true;
          connection.stream.pause();
        }
      } else {
        buffer.onKeepalive(m.walEnd);
        if (m.replyRequested) status(false);
      }
    } catch (err) {
      fail(err);
    }
  });
  // Settles only when the stream ends: an error, or the server's end of it.
  const streaming = client.query(startReplicationCommand(o.slot, o.from, o.publication)).then(
    () => fail(new Error(`sync: the source ended the replication stream of slot ${o.slot}`)),
    (err) => fail(err),
  );
  try {
    while (!o.signal.aborted && !failure) {
      // Paused: the rows are written at once, and the stream goes on.
      if (!paused) await new Promise((r) => setTimeout(r, TICK_MS));
      o.beat();
      const taken = buffer.take();
      if (taken.rows.length || taken.followedTo) await o.followed.append(o.migrationId, taken.rows, taken.followedTo);
      if (paused) {
        paused = false;
        connection.stream.resume();
      }
      if (taken.followedTo && parseLsn(taken.followedTo) > received) received = parseLsn(taken.followedTo);
      const state = await o.followed.state(o.migrationId);
      if (state?.confirmed && parseLsn(state.confirmed) > confirmed) confirmed = parseLsn(state.confirmed);
      // Says how far rounds applied (the slot is confirmed there), and asks how far the server has decoded.
      status(true);
    }
    if (failure && !o.signal.aborted) throw failure;
  } finally {
    if (paused) connection.stream.resume(); // a paused socket would never see the server's end
    await client.end().catch(() => undefined);
    await streaming;
  }
}
