import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { AggregateStore, ClientAuthenticator, Idempotency, type OAuthCommandDeps } from "../commands/index.js";
import { DEFAULT_ROLES, ROLES, type Config, type Role } from "../config/config.js";
import { checkpointOrigin, loadCheckpointSigner, loadKeyring } from "../config/keys.js";
import { loadScopeCatalog } from "../config/scope-catalog.js";
import { unavailable } from "../domain/shared/errors.js";
import { connectEventLog, createKvOutcomeStore, type JetStreamEventLog } from "../eventlog/index.js";
import { observeRpcs, startGrpcServer, type GrpcServer, type SERVICE_NAMES } from "../grpc/index.js";
import { startHttpServer, type HttpServer } from "../http/index.js";
import { LedgerMetrics, startMetricsServer, type MetricsServer } from "../metrics/index.js";
import type { Projection, ProjectionRunner } from "../../projections/runner/index.js";
import { startRevokedRetention, startTokenCleanup, type TokensReadModel } from "../../projections/tokens/index.js";
import type { AuditReadModel } from "../../projections/audit/index.js";
import { Checkpointer } from "../transparency/index.js";
import { StalenessGuard } from "./staleness.js";
import { assertServingMode, servingSecurity } from "./security.js";
import { collectLedgerMetrics } from "./metrics.js";
import type { ProjectionSlot } from "./projection-slot.js";
import { openReadModels } from "./read-models.js";

const INTROSPECTION_SERVICE = "grantledger.v1.IntrospectionService";

/** The gRPC services each serving role brings (the AuditService comes with the projector). */
const SERVICES_BY_ROLE: Readonly<Record<Role, readonly (typeof SERVICE_NAMES)[number][]>> = {
  commands: ["grantledger.v1.ClientService", "grantledger.v1.GrantService", "grantledger.v1.TokenService", "grantledger.v1.RevocationService"],
  introspection: ["grantledger.v1.IntrospectionService"],
  projector: ["grantledger.v1.AuditService"],
  checkpointer: [],
  // The OAuth HTTP endpoints have their own port (services/http), no gRPC service.
  http: [],
};

/** A process running some of the roles (config.roles): see {@link startLedgerNode}. */
export interface LedgerNode {
  readonly roles: readonly Role[];
  /** The gRPC port; undefined for a process without a serving role or projector (checkpointer only). */
  readonly grpcPort: number | undefined;
  readonly log: JetStreamEventLog;
  /** The tokens projection's runner as started, with the projector role (a rebuild replaces it: see `tokens.runner`). */
  readonly projection: ProjectionRunner | undefined;
  /** The audit trail projection's runner as started (SearchEvents), with the projector role. */
  readonly auditProjection: ProjectionRunner | undefined;
  /** The tokens read model the serving roles answer from (the projector's, or a reader of its file), across rebuilds. */
  readonly tokens: ProjectionSlot<TokensReadModel> | undefined;
  /** The audit read model, with the projector role. */
  readonly audit: ProjectionSlot<AuditReadModel> | undefined;
  readonly grpc: GrpcServer | undefined;
  /** The OAuth HTTP port, with the http role. */
  readonly http: HttpServer | undefined;
  /** The checkpointer role: Merkle tree over the log, signed checkpoints, proofs. */
  readonly checkpointer: Checkpointer | undefined;
  /** The staleness bound of the introspection role (absent when off or without that role). */
  readonly staleness: StalenessGuard | undefined;
  /** The Prometheus series of this process. */
  readonly metrics: LedgerMetrics;
  /** Port of the metrics endpoint; undefined when off (metricsPort 0) or it could not bind. */
  readonly metricsPort: number | undefined;
  /** Graceful stop: no new calls, in-flight ones finish, the projection commits what it has. */
  stop(): Promise<void>;
}

/** One process running every role: commands, projections, introspection, checkpointer. */
export interface Ledger extends LedgerNode {
  readonly grpcPort: number;
  readonly grpc: GrpcServer;
  readonly projection: ProjectionRunner;
  readonly auditProjection: ProjectionRunner;
  readonly tokens: ProjectionSlot<TokensReadModel>;
  readonly checkpointer: Checkpointer;
}

/** What a test build or the process layout changes in a node (never set by configuration). */
export interface LedgerNodeOptions {
  /** Replaces the tokens projection (a version bump, for the automatic-rebuild test). */
  readonly tokensProjection?: Projection;
  /**
   * false: no gRPC port. An HTTP worker (services/app/http-workers.ts) shares its primary's
   * process layout: the primary's gRPC port already carries health, and a worker's listen would be
   * routed to the primary by node:cluster and collide with it.
   */
  readonly grpc?: boolean;
}

/** Every default role in this process (whatever config.roles says), and http when config.roles has it. */
export async function startLedger(config: Config, natsUrl: string, logger: Logger, options: LedgerNodeOptions = {}): Promise<Ledger> {
  const roles = ROLES.filter((role) => DEFAULT_ROLES.includes(role) || (role === "http" && config.roles.includes("http")));
  const node = await startLedgerNode({ ...config, roles }, natsUrl, logger, options);
  const { grpc, grpcPort, projection, auditProjection, tokens, checkpointer } = node;
  if (grpc === undefined || grpcPort === undefined || projection === undefined || auditProjection === undefined || tokens === undefined || checkpointer === undefined) {
    await node.stop();
    throw new Error("a ledger with every role lacks one");
  }
  return { ...node, grpc, grpcPort, projection, auditProjection, tokens, checkpointer };
}

/**
 * Starts the roles in `config.roles`. With `projector`, the projections run here and write their
 * files in `<dataDir>/projections`; without it, the serving roles open the tokens file of a
 * projector running on the same data dir read-only (WAL reader) and follow its checkpoint for
 * `min_sequence` waits and for the staleness bound.
 */
export async function startLedgerNode(config: Config, natsUrl: string, logger: Logger, options: LedgerNodeOptions = {}): Promise<LedgerNode> {
  const roles = config.roles;
  const has = (role: Role): boolean => roles.includes(role);
  const serving = has("commands") || has("introspection") || has("http");
  // Fail before connecting anything: no plaintext unauthenticated port without --insecure-dev.
  if (serving || has("projector")) assertServingMode(config);
  const metrics = new LedgerMetrics();
  const log = await connectEventLog({
    servers: natsUrl,
    stream: config.stream,
    subjectRoot: config.subjectRoot,
    replicas: config.streamReplicas,
    compression: config.streamCompression,
    duplicateWindowMs: config.dedupeWindowMs,
    name: `grant-ledger[${roles.join(",")}]`,
    follow: {
      onReset: ({ reason, next, attempt, detail }) => {
        metrics.followResets.inc({ reason });
        logger.warn({ reason, next, attempt, detail }, "log follow: consumer replaced");
      },
    },
  });

  const stopping = new AbortController();
  const checkpointer = has("checkpointer")
    ? new Checkpointer({
        log,
        signer: loadCheckpointSigner(config),
        origin: checkpointOrigin(config),
        intervalMs: config.checkpointIntervalMs,
        logger,
      }).start()
    : undefined;
  // Each read model sits in a slot that follows blue-green rebuilds (services/app/projection-slot.ts).
  const readModels = await openReadModels({
    config,
    log,
    logger,
    projector: has("projector"),
    serving,
    signal: stopping.signal,
    ...(options.tokensProjection === undefined ? {} : { tokensProjection: options.tokensProjection }),
    onFatal: (name, error) => {
      // A projection that cannot apply an event must not keep answering from a frozen state.
      logger.fatal({ err: error }, `${name} projection stopped`);
      process.exitCode = 1;
      void stop();
    },
  });
  const { tokens, audit } = readModels;
  const projection = has("projector") ? tokens?.runner : undefined;
  const auditProjection = audit?.runner;
  if (has("projector") && tokens !== undefined) {
    void startTokenCleanup({
      db: () => tokens.db,
      signal: stopping.signal,
      graceMs: config.expiredTokenGraceSeconds * 1000,
      onError: (error) => logger.warn({ err: error }, "expired token cleanup failed"),
    });
    if (config.revokedRetentionSeconds > 0) {
      void startRevokedRetention({
        db: () => tokens.db,
        log,
        retentionMs: config.revokedRetentionSeconds * 1000,
        signal: stopping.signal,
        onRun: (run) => logger.debug(run, "revoked rows past retention removed"),
        onError: (error) => logger.warn({ err: error }, "revoked-row retention failed"),
      });
    }
  }

  // Fail closed on a stale read model: Introspect answers UNAVAILABLE and health says NOT_SERVING
  // for the IntrospectionService while the bound is exceeded.
  let onFreshness: (fresh: boolean) => void = () => undefined;
  const staleness =
    config.maxStalenessMs === 0 || !(has("introspection") || has("http")) || tokens === undefined
      ? undefined
      : new StalenessGuard({
          headSequence: () => log.headSequence(),
          appliedSeq: () => tokens.appliedSeq(),
          maxStalenessMs: config.maxStalenessMs,
          intervalMs: config.stalenessCheckMs,
          onChange: (fresh) => onFreshness(fresh),
        }).start();

  let grpc: GrpcServer | undefined;
  let http: HttpServer | undefined;
  if (tokens !== undefined) {
    const keyring = loadKeyring(config);
    const readModel = tokens.readModel;
    const outcomes = await createKvOutcomeStore(log, { ttlMs: config.dedupeWindowMs, replicas: config.streamReplicas });
    const commands: OAuthCommandDeps = {
      log,
      observer: metrics,
      aggregates: new AggregateStore(log),
      retries: config.commandRetries,
      unavailableRetryMs: config.unavailableRetryMs,
      idempotency: new Idempotency(outcomes, keyring.outcomeKey, keyring.requestKey, (error) =>
        logger.warn({ err: error }, "could not record an idempotency outcome"),
      ),
      keyring,
      catalog: loadScopeCatalog(config.scopeCatalogFile),
      tokens: { accessTokenTtlSeconds: config.accessTokenTtlSeconds, refreshTokenTtlSeconds: config.refreshTokenTtlSeconds },
      lookup: {
        catchUpToHead: async () => {
          if (!(await tokens.waitFor(await log.headSequence(), config.minSequenceWaitMs))) {
            throw unavailable("the read model is behind the log; retry", { oauthCode: "temporarily_unavailable" });
          }
        },
        findToken: (hash) => readModel.findToken(hash),
      },
      codes: { findCode: (hash) => readModel.findCode(hash) },
      oauth: {
        authorizationCodeTtlSeconds: config.authorizationCodeTtlSeconds,
        clientCredentialsTtlSeconds: config.clientCredentialsTtlSeconds,
        refreshGraceSeconds: config.refreshGraceSeconds,
        refreshGraceMaxReuses: config.refreshGraceMaxReuses,
        maxSecretOverlapSeconds: config.maxSecretOverlapSeconds,
      },
      clientAuth: new ClientAuthenticator({
        failureBurst: config.clientAuthFailureBurst,
        failuresPerMinute: config.clientAuthFailuresPerMinute,
      }),
    };

    const security = servingSecurity(config, keyring, logger);
    if (options.grpc !== false) {
      observeRpcs(logger, metrics);
      grpc = await startGrpcServer(
        {
          logger,
          commands,
          readModel,
          freshness: { appliedSeq: () => tokens.appliedSeq(), waitFor: (seq, ms) => tokens.waitFor(seq, ms) },
          keyring,
          security,
          minSequenceWaitMs: config.minSequenceWaitMs,
          ...(staleness === undefined ? {} : { staleness }),
          maxAccessTokenTtlSeconds: config.maxAccessTokenTtlSeconds,
          limits: {
            maxScopesPerGrant: config.maxScopesPerGrant,
            maxRedirectUris: config.maxRedirectUris,
            maxSecretOverlapSeconds: config.maxSecretOverlapSeconds,
          },
          services: roles.flatMap((role) => SERVICES_BY_ROLE[role]),
          ...(audit === undefined
            ? {}
            : {
                audit: {
                  logger,
                  log,
                  readModel: audit.readModel,
                  freshness: { appliedSeq: () => audit.appliedSeq(), waitFor: (seq: number, ms: number) => audit.waitFor(seq, ms) },
                  minSequenceWaitMs: config.minSequenceWaitMs,
                  ...(checkpointer === undefined ? {} : { checkpoints: checkpointer }),
                },
              }),
        },
        config.grpcHost,
        config.grpcPort,
      );
    }
    const health = grpc?.health;
    onFreshness = (fresh) => {
      health?.setStatus(INTROSPECTION_SERVICE, fresh ? "SERVING" : "NOT_SERVING");
      if (fresh) logger.info({ maxStalenessMs: config.maxStalenessMs }, "read model within the staleness bound: introspection serving");
      else logger.warn({ maxStalenessMs: config.maxStalenessMs, lastHead: staleness?.lastHead }, "read model stale beyond the bound: introspection fails closed");
    };
    if (staleness !== undefined && !staleness.isFresh()) health?.setStatus(INTROSPECTION_SERVICE, "NOT_SERVING");
    if (has("http")) {
      const read = (file: string | undefined): Buffer | undefined => (file === undefined ? undefined : readFileSync(file));
      const [cert, key] = [read(config.tlsCertFile), read(config.tlsKeyFile)];
      http = await startHttpServer(
        {
          logger,
          observer: metrics,
          commands,
          readModel,
          freshness: { appliedSeq: () => tokens.appliedSeq(), waitFor: (seq, ms) => tokens.waitFor(seq, ms) },
          readYourWritesMs: config.minSequenceWaitMs,
          keyring,
          gate: security.gate,
          staleness,
          scopes: [...commands.catalog.scopes],
          maxScopesPerGrant: config.maxScopesPerGrant,
        },
        {
          host: config.httpHost,
          port: config.httpPort,
          // The gRPC port's certificate; plain HTTP only under --insecure-dev, which config keeps on loopback.
          tls: cert === undefined || key === undefined ? undefined : { cert, key, clientCa: read(config.tlsClientCaFile) },
          issuer: config.httpIssuer,
          form: { maxBytes: config.httpMaxBodyBytes, maxParams: 32 },
        },
      );
    }
  }

  collectLedgerMetrics(metrics, {
    log,
    projections: [...(tokens === undefined ? [] : [tokens]), ...(audit === undefined ? [] : [audit])],
    ...(tokens === undefined ? {} : { tokensDb: () => tokens.db }),
    ...(staleness === undefined ? {} : { staleness }),
  });
  let metricsServer: MetricsServer | undefined;
  if (config.metricsPort !== 0) {
    try {
      metricsServer = await startMetricsServer(metrics.registry, config.metricsHost, config.metricsPort);
    } catch (error) {
      // Observability must not take the serving path down with it: say so loudly and serve.
      logger.error({ err: error, port: config.metricsPort }, "metrics endpoint could not bind; serving without it");
    }
  }
  logger.info(
    {
      roles,
      grpc: grpc === undefined ? null : `${config.grpcHost}:${grpc.port}`,
      http: http === undefined ? null : http.issuer,
      nats: natsUrl,
      stream: config.stream,
      readModel: tokens === undefined ? null : { file: tokens.file, mode: projection === undefined ? "reader" : "projector" },
      metrics: metricsServer === undefined ? null : `http://${config.metricsHost}:${metricsServer.port}/metrics`,
    },
    "grant ledger serving",
  );

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      await http?.close();
      await grpc?.shutdown();
      staleness?.stop();
      stopping.abort();
      await tokens?.stop();
      await audit?.stop();
      await checkpointer?.stop();
      await metricsServer?.close();
      await log.close();
    })());
  return {
    roles,
    grpcPort: grpc?.port,
    log,
    projection,
    auditProjection,
    tokens,
    audit,
    grpc,
    http,
    checkpointer,
    staleness,
    metrics,
    metricsPort: metricsServer?.port,
    stop,
  };
}
