import { readFileSync } from "node:fs";
import { z } from "zod";

const seconds = (max: number) => z.coerce.number().int().positive().max(max);

/**
 * What a process does (`grant-ledger serve --roles ...`): `commands` serves the write RPCs,
 * `introspection` the IntrospectionService (with the staleness bound), `projector` runs the
 * projections that write the read-model files, `checkpointer` signs checkpoints over the log. A
 * serving role without `projector` reads the projector's file in the same data dir. `http` serves
 * the OAuth endpoints (token, introspection, revocation, metadata) on their own port; it is not in
 * the default set.
 */
export const ROLES = ["commands", "introspection", "projector", "checkpointer", "http"] as const;
export type Role = (typeof ROLES)[number];

/** What a process runs when no roles are given. */
export const DEFAULT_ROLES: readonly Role[] = ["commands", "introspection", "projector", "checkpointer"];

const flag = z.preprocess(
  (value) => (typeof value === "string" ? /^(1|true|yes|on)$/i.test(value.trim()) : value),
  z.boolean(),
);

/** Where plaintext, unauthenticated `--insecure-dev` serving may bind. */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);

/** A per-caller request rate (token bucket); `perSecond` 0 turns the limit off. */
const ratePerSecond = z.coerce.number().min(0).max(1_000_000);
const burst = z.coerce.number().int().min(1).max(10_000_000);

const roleList = z
  .preprocess(
    (value) => (typeof value === "string" ? value.split(",").map((r) => r.trim()).filter((r) => r !== "") : value),
    z.array(z.enum(ROLES, { error: (issue) => `unknown role ${JSON.stringify(issue.input)}; roles are ${ROLES.join(", ")}` })).min(1, "at least one role"),
  )
  .transform((roles) => ROLES.filter((role) => roles.includes(role)));

/**
 * Everything a ledger process can be configured with, validated at start-up. Environment variables
 * (see {@link ENVIRONMENT}) override defaults; the README documents each.
 */
export const configSchema = z.object({
  /** An existing NATS server; when unset, `npm start` runs a local nats-server. */
  natsUrl: z.string().min(1).optional(),
  natsPort: z.coerce.number().int().min(1).max(65535).default(4222),
  grpcHost: z.string().min(1).default("127.0.0.1"),
  grpcPort: z.coerce.number().int().min(0).max(65535).default(50051),
  dataDir: z.string().min(1).default("data"),
  stream: z.string().regex(/^[A-Za-z0-9_-]+$/).default("LEDGER"),
  subjectRoot: z.string().regex(/^[A-Za-z0-9_-]+$/).default("ledger"),
  streamReplicas: z.coerce.number().int().min(1).max(5).default(1),
  /** Compression of the stream's files on the NATS server (services/eventlog: StreamOptions.compression). */
  streamCompression: z.enum(["s2", "none"]).default("s2"),
  /** JetStream dedupe window: a retried request_id within it appends nothing new. */
  dedupeWindowMs: z.coerce.number().int().min(1000).max(86_400_000).default(120_000),
  scopeCatalogFile: z.string().min(1).default("config/scopes.json"),
  /** 32+ bytes, base64 or hex; when unset a dev key is generated into the data folder. */
  tokenHashKey: z.string().min(1).optional(),
  tokenHashKeyId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default("k1"),
  /**
   * Older token-hash keys that still verify after a rotation, `id:key,id:key` (key base64 or hex):
   * tokens hashed with them stay valid until they expire. Needs `requestKey`.
   */
  tokenHashOldKeys: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/=_-]+(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/=_-]+)*$/, "expected id:key[,id:key...]")
    .optional(),
  /**
   * `id:key`, the key that does not rotate: request ids, msgIds, outcome sealing and idempotency
   * fingerprints derive from it. Unset: the token-hash key (what a ledger that never rotated used).
   */
  requestKey: z.string().regex(/^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/=_-]+$/, "expected id:key").optional(),
  accessTokenTtlSeconds: seconds(86_400).default(3600),
  maxAccessTokenTtlSeconds: seconds(86_400).default(86_400),
  refreshTokenTtlSeconds: seconds(365 * 86_400).default(30 * 86_400),
  /** Longest a query waits for the read model to reach a requested min_sequence. */
  minSequenceWaitMs: z.coerce.number().int().min(0).max(60_000).default(2000),
  /** How often a command is re-decided after an optimistic-concurrency conflict. */
  commandRetries: z.coerce.number().int().min(0).max(50).default(8),
  /**
   * A command rides out quick UNAVAILABLE failures (a stream-leader election: ~5 s on a 3-node
   * cluster here) for this long before it answers UNAVAILABLE; 0 answers at once.
   */
  unavailableRetryMs: z.coerce.number().int().min(0).max(60_000).default(8_000),
  /** Expired tokens stay in the read model this long before batch cleanup removes them. */
  expiredTokenGraceSeconds: z.coerce.number().int().min(0).default(300),
  /** Revoked tokens and grants leave the read model this long after their revocation (0: only at expiry). */
  revokedRetentionSeconds: z.coerce.number().int().min(0).default(7 * 86_400),
  /** Lifetime of an authorization code (RFC 6749 §4.1.2 recommends at most 10 minutes). */
  authorizationCodeTtlSeconds: seconds(600).default(60),
  /** Lifetime of a client-credentials access token. */
  clientCredentialsTtlSeconds: seconds(86_400).default(3600),
  /**
   * Refresh grace period: a consumed refresh token presented again within it gets its successor
   * back instead of revoking the family. 0 (the default) turns it off; at most 5 minutes, and at most
   * the dedupe window (the successor's sealed copy lives in the outcome store that long).
   */
  refreshGraceSeconds: z.coerce.number().int().min(0).max(300).default(0),
  /** How many grace answers one consumed refresh token may get. */
  refreshGraceMaxReuses: z.coerce.number().int().min(1).max(10).default(1),
  /** Scopes one grant (or code) may carry. */
  maxScopesPerGrant: z.coerce.number().int().min(1).max(64).default(32),
  /** Redirect URIs one client may register. */
  maxRedirectUris: z.coerce.number().int().min(1).max(100).default(20),
  /** Longest overlap RotateClientSecret may give the previous secret. */
  maxSecretOverlapSeconds: z.coerce.number().int().min(0).max(30 * 86_400).default(7 * 86_400),
  /** Failed client-secret checks a client may accumulate before RESOURCE_EXHAUSTED (token bucket size). */
  clientAuthFailureBurst: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Failed checks the bucket forgives per minute (refill rate). */
  clientAuthFailuresPerMinute: z.coerce.number().int().min(1).max(10_000).default(10),
  /** How often the checkpointer signs a checkpoint over the log (ms); 0: only on demand. */
  checkpointIntervalMs: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  /** Checkpoint origin line (C2SP tlog-checkpoint); default `grant-ledger/<stream>`. No spaces or "+". */
  checkpointOrigin: z.string().regex(/^[^\s+]{1,200}$/).optional(),
  /**
   * Ed25519 checkpoint signing key, signed-note form `PRIVATE+KEY+<name>+<id>+<base64>`; when unset
   * a dev key is generated into `<dataDir>/keys/checkpoint.key`.
   */
  checkpointSigningKey: z.string().min(1).optional(),
  /**
   * Staleness bound: an introspection process that cannot confirm its read model is within this
   * lag of the log (NATS unreachable, projector stuck) answers UNAVAILABLE and reports NOT_SERVING
   * until it can (ms; 0 turns the check off).
   */
  maxStalenessMs: z.coerce.number().int().min(0).max(3_600_000).default(5000),
  /** How often the staleness check reads the log's head (ms). */
  stalenessCheckMs: z.coerce.number().int().min(10).max(60_000).default(250),
  /** Prometheus metrics on http://<metricsHost>:<metricsPort>/metrics; 0 turns them off. */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(9464),
  metricsHost: z.string().min(1).default("127.0.0.1"),
  /** The roles this process runs (comma-separated in GL_ROLES / --roles); all by default. */
  roles: roleList.default([...DEFAULT_ROLES]),
  /** How long a role without the projector waits for the projector's read-model file to appear (ms). */
  readModelWaitMs: z.coerce.number().int().min(0).max(600_000).default(30_000),
  /** The OAuth HTTP port of the `http` role (services/http); 0 picks a free one. */
  httpHost: z.string().min(1).default("127.0.0.1"),
  httpPort: z.coerce.number().int().min(0).max(65535).default(8443),
  /** RFC 8414 issuer identifier, the public base URL of the HTTP port; default `<scheme>://<host>:<port>`. */
  httpIssuer: z.url({ protocol: /^https?$/ }).refine((u) => !u.endsWith("/") && !u.includes("?") && !u.includes("#"), "an issuer has no trailing slash, query or fragment").optional(),
  /**
   * Processes serving the `http` role (node:cluster workers sharing its port, connections handed
   * out round-robin); 1 serves HTTP in this process. More than one uses more than one core: each
   * worker is an `http`-only process reading the projector's file in this data dir.
   */
  httpWorkers: z.coerce.number().int().min(1).max(64).default(1),
  /** Largest request body the HTTP endpoints read (bytes); larger is 413. */
  httpMaxBodyBytes: z.coerce.number().int().min(1024).max(1_048_576).default(16_384),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  /**
   * `--insecure-dev`: plaintext gRPC without caller authentication (the `x-actor` header names the
   * caller), only on a loopback host. Without it the server needs TLS (tlsCertFile + tlsKeyFile).
   */
  insecureDev: flag.default(false),
  /** PEM server certificate (chain) and key for the gRPC port. */
  tlsCertFile: z.string().min(1).optional(),
  tlsKeyFile: z.string().min(1).optional(),
  /** PEM CA bundle for client certificates: when set, every connection must present one it signed (mTLS). */
  tlsClientCaFile: z.string().min(1).optional(),
  /** Hashed API keys (`grant-ledger keys create-api-key`); default `<dataDir>/callers.json`. */
  callersFile: z.string().min(1).optional(),
  /**
   * Authorization policy (callers → roles → RPCs, resources, rate limits); default
   * `<dataDir>/policy.json` when it exists. Without one: allow all under insecureDev, deny all otherwise.
   */
  policyFile: z.string().min(1).optional(),
  /** Introspect calls per second per caller (token bucket refill; 0: unlimited) and burst. */
  introspectRatePerSecond: ratePerSecond.default(2000),
  introspectBurst: burst.default(4000),
  /** Calls per second per caller to RPCs that check a client secret (0: unlimited) and burst. */
  secretCheckRatePerSecond: ratePerSecond.default(20),
  secretCheckBurst: burst.default(50),
}).superRefine((config, ctx) => {
  if (config.insecureDev && !isLoopbackHost(config.grpcHost)) {
    ctx.addIssue({
      code: "custom",
      path: ["grpcHost"],
      message: `--insecure-dev serves without authentication and binds only to loopback (127.0.0.1, ::1, localhost), not ${config.grpcHost}`,
    });
  }
  if (config.insecureDev && config.roles.includes("http") && !isLoopbackHost(config.httpHost)) {
    ctx.addIssue({
      code: "custom",
      path: ["httpHost"],
      message: `--insecure-dev serves plain HTTP only on loopback (127.0.0.1, ::1, localhost), not ${config.httpHost}`,
    });
  }
  if (config.httpWorkers > 1 && !config.roles.includes("http")) {
    ctx.addIssue({ code: "custom", path: ["httpWorkers"], message: "HTTP workers serve the http role: add http to the roles, or leave GL_HTTP_WORKERS at 1" });
  }
  if (config.httpWorkers > 1 && config.metricsPort !== 0 && config.metricsPort + config.httpWorkers > 65535) {
    ctx.addIssue({ code: "custom", path: ["httpWorkers"], message: `worker metrics take GL_METRICS_PORT + 1..${config.httpWorkers}: beyond port 65535` });
  }
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined)) {
    ctx.addIssue({ code: "custom", path: ["tlsCertFile"], message: "GL_TLS_CERT and GL_TLS_KEY go together" });
  }
  if (config.tlsClientCaFile !== undefined && config.tlsCertFile === undefined) {
    ctx.addIssue({ code: "custom", path: ["tlsClientCaFile"], message: "mTLS needs a server certificate too (GL_TLS_CERT, GL_TLS_KEY)" });
  }
  if (config.refreshGraceSeconds * 1000 > config.dedupeWindowMs) {
    ctx.addIssue({
      code: "custom",
      path: ["refreshGraceSeconds"],
      message: `must not exceed the dedupe window (${config.dedupeWindowMs} ms): the successor's sealed copy lives that long`,
    });
  }
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Environment variable → config key. */
export const ENVIRONMENT: Readonly<Record<string, keyof Config>> = {
  NATS_URL: "natsUrl",
  GL_NATS_PORT: "natsPort",
  GL_GRPC_HOST: "grpcHost",
  GL_GRPC_PORT: "grpcPort",
  GL_DATA_DIR: "dataDir",
  GL_STREAM: "stream",
  GL_SUBJECT_ROOT: "subjectRoot",
  GL_STREAM_REPLICAS: "streamReplicas",
  GL_STREAM_COMPRESSION: "streamCompression",
  GL_DEDUPE_WINDOW_MS: "dedupeWindowMs",
  GL_SCOPE_CATALOG: "scopeCatalogFile",
  GL_TOKEN_HASH_KEY: "tokenHashKey",
  GL_TOKEN_HASH_KEY_ID: "tokenHashKeyId",
  GL_TOKEN_HASH_OLD_KEYS: "tokenHashOldKeys",
  GL_REQUEST_KEY: "requestKey",
  GL_ACCESS_TOKEN_TTL_SECONDS: "accessTokenTtlSeconds",
  GL_MAX_ACCESS_TOKEN_TTL_SECONDS: "maxAccessTokenTtlSeconds",
  GL_REFRESH_TOKEN_TTL_SECONDS: "refreshTokenTtlSeconds",
  GL_MIN_SEQUENCE_WAIT_MS: "minSequenceWaitMs",
  GL_COMMAND_RETRIES: "commandRetries",
  GL_UNAVAILABLE_RETRY_MS: "unavailableRetryMs",
  GL_EXPIRED_TOKEN_GRACE_SECONDS: "expiredTokenGraceSeconds",
  GL_REVOKED_RETENTION_SECONDS: "revokedRetentionSeconds",
  GL_AUTHORIZATION_CODE_TTL_SECONDS: "authorizationCodeTtlSeconds",
  GL_CLIENT_CREDENTIALS_TTL_SECONDS: "clientCredentialsTtlSeconds",
  GL_REFRESH_GRACE_SECONDS: "refreshGraceSeconds",
  GL_REFRESH_GRACE_MAX_REUSES: "refreshGraceMaxReuses",
  GL_MAX_SCOPES_PER_GRANT: "maxScopesPerGrant",
  GL_MAX_REDIRECT_URIS: "maxRedirectUris",
  GL_MAX_SECRET_OVERLAP_SECONDS: "maxSecretOverlapSeconds",
  GL_CLIENT_AUTH_FAILURE_BURST: "clientAuthFailureBurst",
  GL_CLIENT_AUTH_FAILURES_PER_MINUTE: "clientAuthFailuresPerMinute",
  GL_CHECKPOINT_INTERVAL_MS: "checkpointIntervalMs",
  GL_CHECKPOINT_ORIGIN: "checkpointOrigin",
  GL_CHECKPOINT_SIGNING_KEY: "checkpointSigningKey",
  GL_ROLES: "roles",
  GL_READ_MODEL_WAIT_MS: "readModelWaitMs",
  GL_MAX_STALENESS_MS: "maxStalenessMs",
  GL_STALENESS_CHECK_MS: "stalenessCheckMs",
  GL_METRICS_PORT: "metricsPort",
  GL_METRICS_HOST: "metricsHost",
  GL_HTTP_HOST: "httpHost",
  GL_HTTP_PORT: "httpPort",
  GL_HTTP_ISSUER: "httpIssuer",
  GL_HTTP_MAX_BODY_BYTES: "httpMaxBodyBytes",
  GL_HTTP_WORKERS: "httpWorkers",
  LOG_LEVEL: "logLevel",
  GL_INSECURE_DEV: "insecureDev",
  GL_TLS_CERT: "tlsCertFile",
  GL_TLS_KEY: "tlsKeyFile",
  GL_TLS_CLIENT_CA: "tlsClientCaFile",
  GL_CALLERS_FILE: "callersFile",
  GL_POLICY_FILE: "policyFile",
  GL_INTROSPECT_RATE: "introspectRatePerSecond",
  GL_INTROSPECT_BURST: "introspectBurst",
  GL_SECRET_CHECK_RATE: "secretCheckRatePerSecond",
  GL_SECRET_CHECK_BURST: "secretCheckBurst",
};

/**
 * The optional configuration file (`GL_CONFIG_FILE`): a JSON object whose keys are the environment
 * variables' names (`"GL_ROLES": "introspection"`) or the config keys (`"roles": ["introspection"]`).
 * An unknown key is an error naming it.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new Error(`invalid configuration:\n  GL_CONFIG_FILE: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`invalid configuration:\n  GL_CONFIG_FILE: ${file} must hold a JSON object`);
  }
  const keys = new Set<string>(Object.values(ENVIRONMENT));
  const out: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [name, value] of Object.entries(raw)) {
    const key = ENVIRONMENT[name] ?? (keys.has(name) ? name : undefined);
    if (key === undefined) unknown.push(name);
    else out[key] = value;
  }
  if (unknown.length > 0) {
    throw new Error(`invalid configuration:\n  GL_CONFIG_FILE: ${file}: unknown key${unknown.length > 1 ? "s" : ""} ${unknown.map((k) => JSON.stringify(k)).join(", ")}`);
  }
  return out;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** `overrides` are command-line flags: they win over the environment (default: the environment wins). */
  readonly flagsWin?: boolean;
}

/** Config from the environment over `overrides` over defaults; throws a readable error naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigInput = {}, options: LoadConfigOptions = {}): Config {
  // Precedence: flags (with flagsWin) > environment > overrides > GL_CONFIG_FILE > defaults.
  const configFile = env["GL_CONFIG_FILE"];
  const input: Record<string, unknown> = { ...(configFile === undefined || configFile === "" ? {} : readConfigFile(configFile)), ...overrides };
  for (const [name, key] of Object.entries(ENVIRONMENT)) {
    const value = env[name];
    if (value !== undefined && value !== "" && !(options.flagsWin === true && overrides[key] !== undefined)) input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const byKey = Object.fromEntries(Object.entries(ENVIRONMENT).map(([name, key]) => [key, name]));
    const lines = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      return `  ${byKey[key] ?? key}: ${issue.message}`;
    });
    throw new Error(`invalid configuration:\n${lines.join("\n")}`);
  }
  return parsed.data;
}
