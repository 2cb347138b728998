import { createHash } from "node:crypto";
import { z } from "zod";
import {
  AggregateKind as ProtoAggregateKind,
  type AuditEvent,
  type AuditServiceServer,
  type GetCheckpointRequest,
  type GetCheckpointResponse,
  type GetConsistencyProofRequest,
  type GetConsistencyProofResponse,
  type GetInclusionProofRequest,
  type GetInclusionProofResponse,
  type ReplayEventsResponse,
} from "../gen/grantledger/v1/audit_service.js";
import type { AuditFilter } from "../audit/filter.js";
import type { AuditRecord } from "../audit/records.js";
import { replayEvents } from "../audit/replay.js";
import { getHistory, getStateAt, type HistoryCursor, type PointInTime } from "../audit/state-at.js";
import { assertNever } from "../domain/shared/decider.js";
import { illegalState, validationError } from "../domain/shared/errors.js";
import type { JetStreamEventLog } from "../eventlog/jetstream.js";
import type { AggregateKind, AggregateRef } from "../eventlog/types.js";
import type { AuditCursor, AuditReadModel, AuditRow } from "../../projections/audit/queries.js";
import { awaitSequence } from "./consistency.js";
import { minSequence, text } from "./fields.js";
import { type RpcContext, unary } from "./handler.js";
import type { Freshness } from "./read-model.js";
import { serverStreaming } from "./stream.js";
import type { Logger } from "pino";

/**
 * The tamper-evidence queries (checkpoints, RFC 9162 proofs), implemented by the checkpointer
 * (services/audit). Requests arrive as the generated messages, already shape-checked; an
 * implementation throws DomainErrors (validation → INVALID_ARGUMENT, not_found → NOT_FOUND, ...).
 */
export interface CheckpointQueries {
  getCheckpoint(request: GetCheckpointRequest, ctx: RpcContext): Promise<GetCheckpointResponse>;
  getInclusionProof(request: GetInclusionProofRequest, ctx: RpcContext): Promise<GetInclusionProofResponse>;
  getConsistencyProof(request: GetConsistencyProofRequest, ctx: RpcContext): Promise<GetConsistencyProofResponse>;
}

/** What the AuditService is built from. */
export interface AuditServiceDeps {
  readonly logger: Logger;
  /** The log itself: ReplayEvents, GetStateAt and GetHistory read it, never a read model. */
  readonly log: JetStreamEventLog;
  /** The audit trail read model: SearchEvents. */
  readonly readModel: AuditReadModel;
  /** How far the audit read model has applied the log (SearchEvents `min_sequence`). */
  readonly freshness: Freshness;
  readonly minSequenceWaitMs: number;
  /** Absent while no checkpointer runs: the three proof RPCs answer FAILED_PRECONDITION. */
  readonly checkpoints?: CheckpointQueries;
  /** GetHistory refuses histories whose states add up to more (default 3 MiB, under gRPC's 4 MiB). */
  readonly maxHistoryStateBytes?: number;
}

// ---- mapping between the API and the audit core --------------------------------------------

const KIND_FROM_PROTO: Partial<Record<ProtoAggregateKind, AggregateKind>> = {
  [ProtoAggregateKind.AGGREGATE_KIND_CLIENT]: "client",
  [ProtoAggregateKind.AGGREGATE_KIND_GRANT]: "grant",
  [ProtoAggregateKind.AGGREGATE_KIND_SUBJECT]: "subject",
  [ProtoAggregateKind.AGGREGATE_KIND_CHECKPOINT]: "checkpoint",
};

export function kindToProto(kind: AggregateKind): ProtoAggregateKind {
  switch (kind) {
    case "client":
      return ProtoAggregateKind.AGGREGATE_KIND_CLIENT;
    case "grant":
      return ProtoAggregateKind.AGGREGATE_KIND_GRANT;
    case "subject":
      return ProtoAggregateKind.AGGREGATE_KIND_SUBJECT;
    case "checkpoint":
      return ProtoAggregateKind.AGGREGATE_KIND_CHECKPOINT;
    default:
      return assertNever(kind, "aggregate kind");
  }
}

export const recordToProto = (r: AuditRecord): AuditEvent => ({
  sequence: r.seq,
  index: r.index,
  time: new Date(r.at),
  type: r.type,
  schemaVersion: r.schemaVersion,
  actor: r.actor,
  requestId: r.requestId,
  aggregate: { kind: kindToProto(r.aggregate.kind), id: r.aggregate.id },
  payloadJson: JSON.stringify(r.payload),
  eventId: r.eventId,
});

const rowToProto = (r: AuditRow): AuditEvent => ({
  sequence: r.seq,
  index: r.index,
  time: new Date(r.at),
  type: r.type,
  schemaVersion: r.schemaVersion,
  actor: r.actor,
  requestId: r.requestId,
  aggregate: { kind: kindToProto(r.aggregateKind), id: r.aggregateId },
  payloadJson: r.payloadJson,
  eventId: r.eventId,
});

// ---- validation at the edge ------------------------------------------------------------------

const aggregateRef = z
  .object({ kind: z.enum(ProtoAggregateKind), id: text("aggregate id", 256) })
  .transform((ref, ctx): AggregateRef => {
    const kind = KIND_FROM_PROTO[ref.kind];
    if (kind === undefined) {
      ctx.addIssue({ code: "custom", path: ["kind"], message: "aggregate kind is required (client, grant, subject)" });
      return z.NEVER;
    }
    if (ref.id === "") {
      ctx.addIssue({ code: "custom", path: ["id"], message: "aggregate id is required" });
      return z.NEVER;
    }
    return { kind, id: ref.id };
  });

const optionalText = (what: string, max: number) => text(what, max).transform((s) => (s === "" ? undefined : s));
const sequence = z.number().int().nonnegative().optional();
const instant = z
  .date()
  .optional()
  .refine((d) => d === undefined || !Number.isNaN(d.getTime()), "is not a valid time");

const EVENT_TYPE = /^[a-z][a-z_]*\.[a-z][a-z_]*$/;

const eventFilter = z
  .object({
    aggregate: aggregateRef.optional(),
    subject: optionalText("subject", 256),
    clientId: optionalText("client_id", 64),
    resource: optionalText("resource", 256),
    actor: optionalText("actor", 128),
    eventTypes: z.array(z.string().regex(EVENT_TYPE, "is not an event type (like grant.created)")).max(50, "event_types has more than 50 items"),
    fromTime: instant,
    toTime: instant,
    fromSequence: sequence,
    toSequence: sequence,
  })
  .superRefine((f, ctx) => {
    if (f.fromTime !== undefined && f.toTime !== undefined && f.fromTime > f.toTime) {
      ctx.addIssue({ code: "custom", path: ["toTime"], message: "to_time is before from_time" });
    }
    if (f.fromSequence !== undefined && f.toSequence !== undefined && f.fromSequence > f.toSequence) {
      ctx.addIssue({ code: "custom", path: ["toSequence"], message: "to_sequence is below from_sequence" });
    }
  })
  .transform(
    (f): AuditFilter => ({
      ...(f.aggregate === undefined ? {} : { aggregate: f.aggregate }),
      ...(f.subject === undefined ? {} : { subject: f.subject }),
      ...(f.clientId === undefined ? {} : { clientId: f.clientId }),
      ...(f.resource === undefined ? {} : { resource: f.resource }),
      ...(f.actor === undefined ? {} : { actor: f.actor }),
      ...(f.eventTypes.length === 0 ? {} : { types: [...new Set(f.eventTypes)] }),
      ...(f.fromTime === undefined ? {} : { fromTime: f.fromTime.getTime() }),
      ...(f.toTime === undefined ? {} : { toTime: f.toTime.getTime() }),
      ...(f.fromSequence === undefined || f.fromSequence === 0 ? {} : { fromSeq: f.fromSequence }),
      ...(f.toSequence === undefined ? {} : { toSeq: f.toSequence }),
    }),
  );

const filterField = eventFilter.optional().transform((f): AuditFilter => f ?? {});

const MAX_REPLAY_BATCH = 1000;
const replaySchema = z.object({
  filter: filterField,
  follow: z.boolean(),
  batchSize: z.number().int().min(0).max(MAX_REPLAY_BATCH, `batch_size is at most ${MAX_REPLAY_BATCH}`),
});

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

const searchSchema = z.object({
  filter: filterField,
  pageSize: z.number().int().min(0).max(MAX_PAGE_SIZE, `page_size is at most ${MAX_PAGE_SIZE}`),
  pageToken: z.string().max(512, "page_token is not one this service issued"),
  minSequence,
});

const requiredAggregate = aggregateRef.optional().superRefine((ref, ctx) => {
  if (ref === undefined) ctx.addIssue({ code: "custom", message: "aggregate is required" });
});

const stateAtSchema = z
  .object({ aggregate: requiredAggregate, atTime: instant, atSequence: sequence })
  .superRefine((r, ctx) => {
    if (r.atTime !== undefined && r.atSequence !== undefined) {
      ctx.addIssue({ code: "custom", path: ["atSequence"], message: "give at most one of at_time and at_sequence" });
    }
  });

const MAX_HISTORY_PAGE = 1000;
/** `h1.<seq>.<index>`: the last entry of the previous page (the page's own state is always refolded). */
const HISTORY_TOKEN = /^h1\.(\d{1,16})\.(\d{1,6})$/;
const historySchema = z.object({
  aggregate: requiredAggregate,
  pageSize: z.number().int().min(0).max(MAX_HISTORY_PAGE, `page_size is at most ${MAX_HISTORY_PAGE}`),
  pageToken: z.string().regex(HISTORY_TOKEN, "page_token is not one this service issued").or(z.literal("")),
});

function historyCursor(token: string): HistoryCursor | undefined {
  const match = HISTORY_TOKEN.exec(token);
  return match === null ? undefined : { seq: Number(match[1]), index: Number(match[2]) };
}

const checkpointSchema = z.object({ treeSize: z.number().int().nonnegative() });
const inclusionSchema = z.object({ sequence: z.number().int().nonnegative(), treeSize: z.number().int().nonnegative() });
const consistencySchema = z.object({ oldSize: z.number().int().nonnegative(), newSize: z.number().int().nonnegative() });

// ---- page tokens ---------------------------------------------------------------------------

/** A token binds the cursor to the filter it was issued for: reusing it with another filter is an error. */
const filterFingerprint = (filter: AuditFilter): string =>
  createHash("sha256").update(JSON.stringify(filter, Object.keys(filter).sort())).digest("base64url").slice(0, 16);

export const encodePageToken = (cursor: AuditCursor, filter: AuditFilter): string =>
  Buffer.from(JSON.stringify({ s: cursor.seq, i: cursor.index, f: filterFingerprint(filter) })).toString("base64url");

const tokenBody = z.object({ s: z.number().int().positive(), i: z.number().int().nonnegative(), f: z.string() });

export function decodePageToken(token: string, filter: AuditFilter): AuditCursor | undefined {
  if (token === "") return undefined;
  let body;
  try {
    body = tokenBody.parse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
  } catch {
    throw validationError("page_token is not one this service issued", { field: "page_token" });
  }
  if (body.f !== filterFingerprint(filter)) {
    throw validationError("page_token was issued for another filter", { field: "page_token" });
  }
  return { seq: body.s, index: body.i };
}

// ---- the service -----------------------------------------------------------------------------

const noCheckpointer = (): never => {
  throw illegalState("checkpointer not running: no checkpoints or proofs to serve");
};

/** The AuditService handlers: replay, search, point in time; the proof RPCs delegate to `checkpoints`. */
export function auditService(deps: AuditServiceDeps): AuditServiceServer {
  const { logger, log } = deps;
  const maxHistoryBytes = deps.maxHistoryStateBytes ?? 3 * 1024 * 1024;
  return {
    replayEvents: serverStreaming(logger, "ReplayEvents", replaySchema, async (input, _ctx, sink) => {
      const records = replayEvents(log, { filter: input.filter, follow: input.follow, signal: sink.signal });
      if (input.batchSize === 0) {
        for await (const record of records) {
          const message: ReplayEventsResponse = { event: recordToProto(record), events: [] };
          if (!sink.write(message)) await sink.drained();
        }
        return;
      }
      // A batch goes out when full, or on the next turn of the event loop: records of messages the
      // consumer already holds arrive without one, so a turn means the log has nothing more at once.
      let batch: AuditEvent[] = [];
      let scheduled: NodeJS.Immediate | undefined;
      let backpressure: Promise<void> | undefined;
      const flush = (): void => {
        if (scheduled !== undefined) clearImmediate(scheduled);
        scheduled = undefined;
        if (batch.length === 0 || sink.signal.aborted) return;
        const message: ReplayEventsResponse = { event: undefined, events: batch };
        batch = [];
        if (!sink.write(message)) backpressure ??= sink.drained();
      };
      try {
        for await (const record of records) {
          batch.push(recordToProto(record));
          if (batch.length >= input.batchSize) flush();
          else scheduled ??= setImmediate(flush);
          if (backpressure !== undefined) {
            await backpressure;
            backpressure = undefined;
          }
        }
        flush();
      } finally {
        if (scheduled !== undefined) clearImmediate(scheduled);
      }
    }),

    searchEvents: unary(logger, "SearchEvents", searchSchema, async (input) => {
      await awaitSequence(deps.freshness, input.minSequence, deps.minSequenceWaitMs);
      const after = decodePageToken(input.pageToken, input.filter);
      const page = deps.readModel.search(input.filter, {
        limit: input.pageSize === 0 ? DEFAULT_PAGE_SIZE : input.pageSize,
        ...(after === undefined ? {} : { after }),
      });
      return {
        events: page.rows.map(rowToProto),
        nextPageToken: page.next === undefined ? "" : encodePageToken(page.next, input.filter),
      };
    }),

    getStateAt: unary(logger, "GetStateAt", stateAtSchema, async (input) => {
      const at: PointInTime =
        input.atSequence !== undefined ? { sequence: input.atSequence } : input.atTime !== undefined ? { time: input.atTime.getTime() } : "head";
      return getStateAt(log, input.aggregate as AggregateRef, at);
    }),

    getHistory: unary(logger, "GetHistory", historySchema, async (input) => {
      const after = historyCursor(input.pageToken);
      const { steps, next } = await getHistory(log, input.aggregate as AggregateRef, maxHistoryBytes, {
        limit: input.pageSize,
        ...(after === undefined ? {} : { after }),
      });
      return {
        entries: steps.map((step) => ({ event: recordToProto(step.record), stateJson: step.stateJson })),
        nextPageToken: next === undefined ? "" : `h1.${next.seq}.${next.index}`,
      };
    }),

    getCheckpoint: unary(logger, "GetCheckpoint", checkpointSchema, (input, ctx) =>
      deps.checkpoints === undefined ? noCheckpointer() : deps.checkpoints.getCheckpoint(input, ctx),
    ),
    getInclusionProof: unary(logger, "GetInclusionProof", inclusionSchema, (input, ctx) =>
      deps.checkpoints === undefined ? noCheckpointer() : deps.checkpoints.getInclusionProof(input, ctx),
    ),
    getConsistencyProof: unary(logger, "GetConsistencyProof", consistencySchema, (input, ctx) =>
      deps.checkpoints === undefined ? noCheckpointer() : deps.checkpoints.getConsistencyProof(input, ctx),
    ),
  };
}
