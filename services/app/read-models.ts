import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config/config.js";
import type { EventLog } from "../eventlog/types.js";
import type { Projection } from "../../projections/runner/index.js";
import { AUDIT_PROJECTION, AuditReadModel } from "../../projections/audit/index.js";
import { TOKENS_PROJECTION, TokensReadModel } from "../../projections/tokens/index.js";
import { openReaderSlot, startProjectorSlot, type ProjectionSlot, type RebuildStatus } from "./projection-slot.js";

/** Options of {@link openReadModels}. */
export interface ReadModelsOptions {
  readonly config: Config;
  readonly log: EventLog;
  readonly logger: Logger;
  /** This process runs the projections (else it reads the projector's files, when serving). */
  readonly projector: boolean;
  readonly serving: boolean;
  /** Overrides the tokens projection (a test build with another version). */
  readonly tokensProjection?: Projection;
  readonly signal: AbortSignal;
  /** A projection stopped on an error: the process must stop serving. */
  readonly onFatal: (projection: string, error: unknown) => void;
  readonly onRebuildProgress?: (projection: string, status: RebuildStatus | undefined) => void;
}

/** The tokens and audit read models of a process, each in a slot that follows blue-green switches. */
export interface ReadModels {
  readonly tokens: ProjectionSlot<TokensReadModel> | undefined;
  /** With the projector role only (the AuditService comes with it). */
  readonly audit: ProjectionSlot<AuditReadModel> | undefined;
}

/** Opens the read models in `<dataDir>/projections`: as the projector, or as readers of its files. */
export async function openReadModels(options: ReadModelsOptions): Promise<ReadModels> {
  const { config, logger } = options;
  const dir = join(config.dataDir, "projections");
  mkdirSync(dir, { recursive: true });
  const tokensProjection = options.tokensProjection ?? TOKENS_PROJECTION;
  if (options.projector) {
    const projector = <R extends object>(projection: Projection, makeReadModel: (db: import("better-sqlite3").Database) => R) =>
      startProjectorSlot({
        projection,
        dir,
        log: options.log,
        logger,
        makeReadModel,
        onFatal: (error) => options.onFatal(projection.name, error),
        onRebuildProgress: (status) => options.onRebuildProgress?.(projection.name, status),
      });
    const tokens = await projector(tokensProjection, (db) => new TokensReadModel(db));
    let audit: ProjectionSlot<AuditReadModel>;
    try {
      audit = await projector(AUDIT_PROJECTION, (db) => new AuditReadModel(db));
    } catch (error) {
      await tokens.stop();
      throw error;
    }
    return { tokens, audit };
  }
  if (!options.serving) return { tokens: undefined, audit: undefined };
  const tokens = await openReaderSlot({
    projection: tokensProjection,
    dir,
    logger,
    makeReadModel: (db) => new TokensReadModel(db),
    waitForFileMs: config.readModelWaitMs,
    signal: options.signal,
  });
  return { tokens, audit: undefined };
}
