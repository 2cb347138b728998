/**
 * Helpers shared by the fault tests (test/fault): reading the log as an auditor would, counting the
 * read model's rows in its SQLite file, and telling gRPC outcomes apart.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { status, type ServiceError } from "@grpc/grpc-js";
import { openProjectionDatabase, readCheckpoint, resolveActive } from "../../projections/runner/index.js";
import { connectEventLog, type JetStreamEventLog } from "../../services/eventlog/index.js";
import type { AggregateRef, RecordedEnvelope } from "../../services/eventlog/types.js";
import { TOKENS_PROJECTION } from "../../projections/tokens/index.js";

/** Prints what a fault test did or checked, tagged with the test's name. */
export const say =
  (tag: string) =>
  (...parts: unknown[]): void =>
    console.log(`[${tag}]`, ...parts);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One hash key for every ledger of a test, so they read each other's tokens. */
export const sharedHashKey = (): string => randomBytes(32).toString("base64");

/** A gRPC call's outcome without throwing: the response, or the status code and details. */
export type Outcome<T> = { ok: true; value: T; ms: number } | { ok: false; code: status; details: string; ms: number };

export async function attempt<T>(call: Promise<T>): Promise<Outcome<T>> {
  const started = performance.now();
  try {
    const value = await call;
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    const e = error as Partial<ServiceError>;
    if (typeof e.code !== "number") throw error;
    return { ok: false, code: e.code, details: e.details ?? "", ms: performance.now() - started };
  }
}

export const codeName = (code: number): string => status[code] ?? String(code);

/** Counts outcomes by status name ("OK", "ABORTED", ...). */
export class Tally {
  readonly counts = new Map<string, number>();
  add(outcome: Outcome<unknown>): void {
    const name = outcome.ok ? "OK" : codeName(outcome.code);
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }
  toString(): string {
    return [...this.counts].map(([k, v]) => `${k}=${v}`).join(" ");
  }
}

/** A read-only view of the ledger's stream (the default "LEDGER"), as an auditor connects to it. */
export function auditLog(natsUrl: string, stream = "LEDGER"): Promise<JetStreamEventLog> {
  return connectEventLog({ servers: natsUrl, stream, ensureStream: false, name: "fault-audit", maxReconnectAttempts: 20 });
}

/** Every message of the stream from 1 to its head at call time, in order. */
export async function readWholeLog(log: JetStreamEventLog): Promise<RecordedEnvelope[]> {
  const head = await log.headSequence();
  const out: RecordedEnvelope[] = [];
  if (head === 0) return out;
  const controller = new AbortController();
  for await (const envelope of log.follow(1, controller.signal)) {
    out.push(envelope);
    if (envelope.seq >= head) break;
  }
  controller.abort();
  return out;
}

export const grantRef = (id: string): AggregateRef => ({ kind: "grant", id });

/** Asserts-free check of one aggregate's hash chain: the index of the first broken link, or -1. */
export function brokenLink(envelopes: readonly RecordedEnvelope[]): number {
  if (envelopes.length > 0 && envelopes[0]?.prev !== null) return 0;
  for (let i = 1; i < envelopes.length; i++) if (envelopes[i]?.prev !== envelopes[i - 1]?.hash) return i;
  return -1;
}

/** What the log says the read model must hold. */
export interface LogCounts {
  head: number;
  clients: number;
  grants: number;
  revokedGrants: number;
  tokens: number;
  tokenIds: string[];
}

export function countLog(envelopes: readonly RecordedEnvelope[]): LogCounts {
  const counts: LogCounts = { head: envelopes.at(-1)?.seq ?? 0, clients: 0, grants: 0, revokedGrants: 0, tokens: 0, tokenIds: [] };
  const revoked = new Set<string>();
  for (const envelope of envelopes) {
    for (const event of envelope.events) {
      if (event.type === "client.registered") counts.clients++;
      if (event.type === "grant.created") counts.grants++;
      if (event.type === "grant.revoked") revoked.add(event.data.grantId);
      if (event.type === "token.issued") {
        counts.tokens += event.data.tokens.length;
        for (const t of event.data.tokens) counts.tokenIds.push(t.tokenId);
      }
    }
  }
  counts.revokedGrants = revoked.size;
  return counts;
}

/** The active tokens read model file of a ledger data dir (its pointer, or the first file before one exists). */
export function readModelFile(dataDir: string): string {
  const dir = join(dataDir, "projections");
  return join(dir, resolveActive(dir, TOKENS_PROJECTION.name, TOKENS_PROJECTION.version).file);
}

/** What the read model's SQLite file holds, read from another connection (as after a crash). */
export interface ReadModelCounts {
  checkpoint: number;
  clients: number;
  grants: number;
  revokedGrants: number;
  tokens: number;
  distinctTokenIds: number;
  /** Rows whose `seq`/`created_seq` lies beyond the checkpoint: applied but not checkpointed. */
  beyondCheckpoint: number;
}

/** What a read model that applied every message of the log exactly once holds. */
export const readModelImpliedBy = (fromLog: LogCounts): ReadModelCounts => ({
  checkpoint: fromLog.head,
  clients: fromLog.clients,
  grants: fromLog.grants,
  revokedGrants: fromLog.revokedGrants,
  tokens: fromLog.tokens,
  distinctTokenIds: fromLog.tokens,
  beyondCheckpoint: 0,
});

export function countReadModel(dataDir: string): ReadModelCounts {
  const db = openProjectionDatabase(readModelFile(dataDir), { readonly: true });
  try {
    const one = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
    const checkpoint = readCheckpoint(db, "tokens")?.seq ?? 0;
    return {
      checkpoint,
      clients: one("SELECT count(*) AS n FROM clients"),
      grants: one("SELECT count(*) AS n FROM grants"),
      revokedGrants: one("SELECT count(*) AS n FROM grants WHERE revoked_seq IS NOT NULL"),
      tokens: one("SELECT count(*) AS n FROM tokens"),
      distinctTokenIds: one("SELECT count(DISTINCT token_id) AS n FROM tokens"),
      beyondCheckpoint: one(
        `SELECT (SELECT count(*) FROM clients WHERE seq > ${checkpoint}) + (SELECT count(*) FROM grants WHERE seq > ${checkpoint})
              + (SELECT count(*) FROM tokens WHERE seq > ${checkpoint}) AS n`,
      ),
    };
  } finally {
    db.close();
  }
}
