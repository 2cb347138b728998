import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { AggregateStore, Idempotency, type CommandContext, type KnownToken, type LedgerCommandDeps, type TokenLookup } from "../../../services/commands/index.js";
import { loadScopeCatalog } from "../../../services/config/scope-catalog.js";
import { createKeyring, type Keyring } from "../../../services/crypto/keys.js";
import type { AppendRequest, AppendResult, EventLog } from "../../../services/eventlog/types.js";
import { createMemoryEventLog, createMemoryOutcomeStore, type MemoryEventLog, type OutcomeStore } from "../../../services/eventlog/index.js";
import { isDomainError } from "../../../services/domain/shared/errors.js";

const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));

export const T0 = 1_700_000_000_000;

/** One key for every "process" of a test, as one deployment shares its key. */
export const testKeyring = (): Keyring => createKeyring({ id: "k1", secret: Buffer.alloc(32, 7) });

/**
 * A fake read side for revocation: indexes the log's token.issued events by hash, the way the tokens
 * projection would, catching up on demand.
 */
export function logLookup(log: EventLog): TokenLookup {
  const byHash = new Map<string, KnownToken>();
  const clientOfGrant = new Map<string, string>();
  let applied = 0;
  return {
    async catchUpToHead() {
      const head = await log.headSequence();
      for (let seq = applied + 1; seq <= head; seq++) {
        const envelope = await log.get(seq);
        for (const event of envelope?.events ?? []) {
          if (event.type === "grant.created") clientOfGrant.set(event.data.grantId, event.data.clientId);
          if (event.type === "token.issued") {
            for (const t of event.data.tokens) {
              byHash.set(t.hash, {
                tokenId: t.tokenId,
                grantId: event.data.grantId,
                clientId: clientOfGrant.get(event.data.grantId) ?? "",
                kind: t.kind,
                familyId: t.familyId,
              });
            }
          }
        }
      }
      applied = head;
    },
    findToken: (hash) => byHash.get(hash),
  };
}

/** Counts what reached the log through one "process": appends, conflicts, duplicates. */
export interface AppendStats {
  appends: number;
  conflicts: number;
  duplicates: number;
}

/**
 * Wraps a log so a test can run something (another process's command) right before an append
 * reaches the log — i.e. between this process's load and its append — and count outcomes.
 */
export function instrumentedLog(
  inner: EventLog,
  beforeAppend?: (request: AppendRequest, attempt: number) => Promise<void>,
): EventLog & { stats: AppendStats; requests: AppendRequest[] } {
  const stats: AppendStats = { appends: 0, conflicts: 0, duplicates: 0 };
  const requests: AppendRequest[] = [];
  return {
    stats,
    requests,
    async append(request: AppendRequest): Promise<AppendResult> {
      requests.push(request);
      if (beforeAppend !== undefined) await beforeAppend(request, requests.length);
      try {
        const result = await inner.append(request);
        if (result.duplicate) stats.duplicates++;
        else stats.appends++;
        return result;
      } catch (error) {
        if (isDomainError(error) && error.kind === "conflict") stats.conflicts++;
        throw error;
      }
    },
    readAggregate: (aggregate, afterSeq) => inner.readAggregate(aggregate, afterSeq),
    get: (seq) => inner.get(seq),
    headSequence: () => inner.headSequence(),
    follow: (fromSeq, signal) => inner.follow(fromSeq, signal),
  };
}

/** An outcome store that records every value written to it (to look at the stored bytes). */
export function recordingOutcomeStore(
  inner: OutcomeStore = createMemoryOutcomeStore(),
): OutcomeStore & { written: Uint8Array[]; failPuts: boolean; gets: number } {
  const store = {
    written: [] as Uint8Array[],
    failPuts: false,
    /** Reads so far: how many round trips the idempotency check cost. */
    gets: 0,
    get: (key: string) => {
      store.gets++;
      return inner.get(key);
    },
    async create(key: string, value: Uint8Array) {
      store.written.push(value.slice());
      return inner.create(key, value);
    },
    async put(key: string, value: Uint8Array) {
      // A process killed right after its append never records the answer: simulate that.
      if (store.failPuts) throw new Error("outcome store put lost (simulated crash)");
      store.written.push(value.slice());
      return inner.put(key, value);
    },
  };
  return store;
}

export interface Process {
  readonly deps: LedgerCommandDeps;
  readonly log: ReturnType<typeof instrumentedLog>;
}

/**
 * One command-handling "process": its own aggregate cache over a shared log and outcome store,
 * built as services/app/ledger.ts builds it.
 */
export function commandProcess(
  shared: { log: EventLog; outcomes: OutcomeStore; keyring?: Keyring },
  options: { retries?: number; beforeAppend?: (request: AppendRequest, attempt: number) => Promise<void> } = {},
): Process {
  const keyring = shared.keyring ?? testKeyring();
  const log = instrumentedLog(shared.log, options.beforeAppend);
  const deps: LedgerCommandDeps = {
    log,
    aggregates: new AggregateStore(log),
    retries: options.retries ?? 8,
    idempotency: new Idempotency(shared.outcomes, keyring.outcomeKey, keyring.requestKey),
    keyring,
    catalog: loadScopeCatalog(join(repoRoot, "config/scopes.json")),
    tokens: { accessTokenTtlSeconds: 3600, refreshTokenTtlSeconds: 86_400 },
    lookup: logLookup(shared.log),
  };
  return { deps, log };
}

let counter = 0;
/** A fresh request context (actor "tester", a unique request id, a clock from T0). */
export const ctx = (requestId = `req-${++counter}`, actor = "tester"): CommandContext => ({
  actor,
  requestId,
  now: () => T0 + counter * 1000,
});

export const shared = (): { log: MemoryEventLog; outcomes: ReturnType<typeof recordingOutcomeStore> } => ({
  log: createMemoryEventLog(),
  outcomes: recordingOutcomeStore(),
});
