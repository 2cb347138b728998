import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { AggregateStore, Idempotency, type LedgerCommandDeps } from "../commands/index.js";
import type { Config } from "../config/config.js";
import { loadKeyring } from "../config/keys.js";
import { loadScopeCatalog } from "../config/scope-catalog.js";
import { unavailable } from "../domain/shared/errors.js";
import { connectEventLog, createKvOutcomeStore, type JetStreamEventLog } from "../eventlog/index.js";
import { startGrpcServer, type GrpcServer } from "../grpc/index.js";
import { startProjection, type ProjectionRunner } from "../../projections/runner/index.js";
import { startTokenCleanup, TOKENS_PROJECTION, TokensReadModel } from "../../projections/tokens/index.js";

/** One process running every role: commands, the tokens projection, introspection. */
export interface Ledger {
  readonly grpcPort: number;
  readonly log: JetStreamEventLog;
  readonly projection: ProjectionRunner;
  readonly grpc: GrpcServer;
  /** Graceful stop: no new calls, in-flight ones finish, the projection commits what it has. */
  stop(): Promise<void>;
}

export async function startLedger(config: Config, natsUrl: string, logger: Logger): Promise<Ledger> {
  const keyring = loadKeyring(config);
  const catalog = loadScopeCatalog(config.scopeCatalogFile);
  const log = await connectEventLog({
    servers: natsUrl,
    stream: config.stream,
    subjectRoot: config.subjectRoot,
    replicas: config.streamReplicas,
    duplicateWindowMs: config.dedupeWindowMs,
    name: "grant-ledger",
  });
  const outcomes = await createKvOutcomeStore(log, { ttlMs: config.dedupeWindowMs, replicas: config.streamReplicas });

  const stopping = new AbortController();
  const projectionDir = join(config.dataDir, "projections");
  mkdirSync(projectionDir, { recursive: true });
  const projection = startProjection({
    log,
    projection: TOKENS_PROJECTION,
    file: join(projectionDir, `${TOKENS_PROJECTION.name}.v${TOKENS_PROJECTION.version}.db`),
    signal: stopping.signal,
    onError: (error) => {
      // A projection that cannot apply an event must not keep answering from a frozen state.
      logger.fatal({ err: error }, "tokens projection stopped");
      process.exitCode = 1;
      void stop();
    },
  });
  const readModel = new TokensReadModel(projection.db);
  void startTokenCleanup({
    db: projection.db,
    signal: stopping.signal,
    graceMs: config.expiredTokenGraceSeconds * 1000,
    onError: (error) => logger.warn({ err: error }, "expired token cleanup failed"),
  });

  const commands: LedgerCommandDeps = {
    log,
    aggregates: new AggregateStore(log),
    retries: config.commandRetries,
    idempotency: new Idempotency(outcomes, keyring.outcomeKey, keyring.requestKey, (error) =>
      logger.warn({ err: error }, "could not record an idempotency outcome"),
    ),
    keyring,
    catalog,
    tokens: { accessTokenTtlSeconds: config.accessTokenTtlSeconds, refreshTokenTtlSeconds: config.refreshTokenTtlSeconds },
    lookup: {
      catchUpToHead: async () => {
        if (!(await projection.caughtUp(config.minSequenceWaitMs))) {
          throw unavailable("the read model is behind the log; retry", { oauthCode: "temporarily_unavailable" });
        }
      },
      findToken: (hash) => readModel.findToken(hash),
    },
  };

  const grpc = await startGrpcServer(
    {
      logger,
      commands,
      readModel,
      freshness: { appliedSeq: () => projection.appliedSeq, waitFor: (seq, ms) => projection.waitFor(seq, ms) },
      keyring,
      minSequenceWaitMs: config.minSequenceWaitMs,
      maxAccessTokenTtlSeconds: config.maxAccessTokenTtlSeconds,
    },
    config.grpcHost,
    config.grpcPort,
  );
  logger.info({ grpc: `${config.grpcHost}:${grpc.port}`, nats: natsUrl, stream: config.stream }, "grant ledger serving");

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await grpc.shutdown();
      stopping.abort();
      await projection.stop();
      await log.close();
    })());
  return { grpcPort: grpc.port, log, projection, grpc, stop };
}
