import { statSync } from "node:fs";
import type { Database } from "better-sqlite3";
import type { EventLog } from "../eventlog/types.js";
import { countTokensByState } from "../../projections/tokens/index.js";
import type { LedgerMetrics } from "../metrics/index.js";
import type { StalenessGuard } from "./staleness.js";

/** A read model as the metrics see it. */
export interface ProjectionMetricsSource {
  readonly name: string;
  /** The active file (read at each scrape: a rebuild switches it). */
  readonly file: string;
  appliedSeq(): number;
  /** The active file's generation (0 before any rebuild). */
  readonly active?: { readonly generation: number };
  /** The rebuild in progress, if any. */
  rebuilding?(): { readonly appliedSeq: number; readonly head: number; readonly eventsPerSecond: number } | undefined;
}

/** What {@link collectLedgerMetrics} refreshes on scrape. */
export interface LedgerMetricsSources {
  readonly log: EventLog;
  readonly projections: readonly ProjectionMetricsSource[];
  /** The tokens read model's active connection (any connection to it), for token counts by state. */
  readonly tokensDb?: () => Database;
  /** Token counts need a full scan: at most once per this many ms (default 15 s). */
  readonly tokenCountsEveryMs?: number;
  readonly staleness?: StalenessGuard;
}

const fileBytes = (file: string): number => {
  let total = 0;
  for (const path of [file, `${file}-wal`]) {
    try {
      total += statSync(path).size;
    } catch {
      // No WAL yet (or no file): zero bytes.
    }
  }
  return total;
};

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);
}

/** Registers the scrape-time collectors: log head, projection progress and lag, file sizes, token counts, staleness. */
export function collectLedgerMetrics(metrics: LedgerMetrics, sources: LedgerMetricsSources): void {
  const every = sources.tokenCountsEveryMs ?? 15_000;
  let countedAt = Number.NEGATIVE_INFINITY;
  metrics.registry.collect(async () => {
    // A scrape must not hang on a lost NATS connection: the head is then the last one read.
    const head = await within(sources.log.headSequence(), 1000).catch(() => sources.staleness?.lastHead);
    if (head !== undefined) metrics.head.set({}, head);
    for (const projection of sources.projections) {
      const applied = projection.appliedSeq();
      const labels = { projection: projection.name };
      metrics.applied.set(labels, applied);
      metrics.size.set(labels, fileBytes(projection.file));
      if (projection.active !== undefined) metrics.generation.set(labels, projection.active.generation);
      const rebuild = projection.rebuilding?.();
      metrics.rebuildProgress.set(labels, rebuild === undefined ? 0 : rebuild.head === 0 ? 1 : Math.min(1, rebuild.appliedSeq / rebuild.head));
      metrics.rebuildApplied.set(labels, rebuild?.appliedSeq ?? 0);
      metrics.rebuildRate.set(labels, rebuild?.eventsPerSecond ?? 0);
      if (head === undefined) continue;
      const behind = Math.max(0, head - applied);
      metrics.lagEvents.set(labels, behind);
      let lagSeconds = 0;
      if (behind > 0) {
        const oldest = await within(sources.log.get(applied + 1), 1000).catch(() => undefined);
        if (oldest !== undefined) lagSeconds = Math.max(0, Date.now() - oldest.storedAt) / 1000;
      }
      metrics.lagSeconds.set(labels, lagSeconds);
    }
  });
  if (sources.tokensDb !== undefined) {
    const connection = sources.tokensDb;
    metrics.registry.collect(() => {
      const db = connection();
      const now = Date.now();
      if (now - countedAt < every) return;
      countedAt = now;
      for (const [state, n] of Object.entries(countTokensByState(db, now)) as Array<[string, number]>) metrics.tokens.set({ state }, n);
    });
  }
  if (sources.staleness !== undefined) {
    const staleness = sources.staleness;
    metrics.registry.collect(() => {
      const fresh = staleness.isFresh();
      const age = staleness.stalenessMs();
      metrics.fresh.set({}, fresh ? 1 : 0);
      metrics.staleness.set({}, Number.isFinite(age) ? age / 1000 : -1);
    });
  }
}
