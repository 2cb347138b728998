import { createHash } from "node:crypto";
import { JetStreamApiCodes, JetStreamApiError, StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { isDomainError, unavailable } from "../domain/shared/errors.js";
import type { JetStreamEventLog } from "./jetstream.js";

/**
 * Idempotency outcomes, kept outside the log for a bounded time: what a command answered, so a retry
 * with the same request id gets the same answer. Keys are opaque strings (hashed before storage);
 * values are opaque bytes (the caller seals them). Errors are DomainError `unavailable`.
 */
export interface OutcomeStore {
  /** The value stored under `key`; undefined when none (never stored, or expired). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores `value` only when `key` holds nothing; false when it already does (first writer wins). */
  create(key: string, value: Uint8Array): Promise<boolean>;
  /** Stores `value` under `key`, replacing any value. */
  put(key: string, value: Uint8Array): Promise<void>;
}

/** Options of {@link createKvOutcomeStore}. */
export interface KvOutcomeStoreOptions {
  /** KV bucket name (default "GL_OUTCOMES"). */
  bucket?: string;
  /**
   * How long an outcome lives, in ms (the bucket's max age). Should be at least the log's duplicate
   * window, so a retry the log dedupes can still be answered.
   */
  ttlMs: number;
  /** Bucket replicas (default 1; 3 on a cluster). */
  replicas?: number;
}

export const DEFAULT_OUTCOME_BUCKET = "GL_OUTCOMES";

/** The KV key of an opaque caller key: base64url SHA-256, always KV-safe and bounded in length. */
export const outcomeKey = (key: string): string => createHash("sha256").update(key, "utf8").digest("base64url");

const wrap = (what: string, error: unknown): Error =>
  isDomainError(error)
    ? error
    : unavailable(`outcome store ${what} failed (${error instanceof Error ? error.message : String(error)})`, {
        cause: error,
      });

const isWrongLastSequence = (error: unknown): boolean =>
  error instanceof JetStreamApiError &&
  (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
    error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * An {@link OutcomeStore} on a JetStream KV bucket (history 1, file storage, max age `ttlMs`),
 * created if missing, on the event log's connection or any NATS connection.
 */
export async function createKvOutcomeStore(
  connection: JetStreamEventLog | NatsConnection,
  options: KvOutcomeStoreOptions,
): Promise<OutcomeStore> {
  const kvm = new Kvm("jsm" in connection ? connection.js : connection);
  const bucket = options.bucket ?? DEFAULT_OUTCOME_BUCKET;
  let kv: KV;
  try {
    kv = await kvm.create(bucket, {
      history: 1,
      ttl: options.ttlMs,
      replicas: options.replicas ?? 1,
      storage: StorageType.File,
    });
  } catch (error) {
    throw wrap("setup", error);
  }
  return {
    async get(key) {
      try {
        const entry = await kv.get(outcomeKey(key));
        // A copy as a plain Uint8Array: the client hands out a Buffer view into its read buffer.
        return entry === null || entry.operation !== "PUT" ? undefined : new Uint8Array(entry.value);
      } catch (error) {
        throw wrap("get", error);
      }
    },
    async create(key, value) {
      try {
        await kv.create(outcomeKey(key), value);
        return true;
      } catch (error) {
        if (isWrongLastSequence(error)) return false;
        throw wrap("create", error);
      }
    },
    async put(key, value) {
      try {
        await kv.put(outcomeKey(key), value);
      } catch (error) {
        throw wrap("put", error);
      }
    },
  };
}

/** Options of {@link createMemoryOutcomeStore}. */
export interface MemoryOutcomeStoreOptions {
  /** How long an outcome lives, in ms (default: forever). */
  ttlMs?: number;
  /** Clock (default `Date.now`). */
  now?: () => number;
}

/** An in-memory {@link OutcomeStore} with the KV store's semantics, for unit tests. */
export function createMemoryOutcomeStore(options: MemoryOutcomeStoreOptions = {}): OutcomeStore {
  const now = options.now ?? Date.now;
  const ttl = options.ttlMs ?? Number.POSITIVE_INFINITY;
  const entries = new Map<string, { value: Uint8Array; storedAt: number }>();
  const live = (key: string): Uint8Array | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (now() - entry.storedAt >= ttl) {
      entries.delete(key);
      return undefined;
    }
    return entry.value;
  };
  return {
    async get(key) {
      const value = live(key);
      return value === undefined ? undefined : value.slice();
    },
    async create(key, value) {
      if (live(key) !== undefined) return false;
      entries.set(key, { value: value.slice(), storedAt: now() });
      return true;
    },
    async put(key, value) {
      entries.set(key, { value: value.slice(), storedAt: now() });
    },
  };
}
