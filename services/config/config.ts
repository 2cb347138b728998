import { z } from "zod";

const seconds = (max: number) => z.coerce.number().int().positive().max(max);

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
  /** JetStream dedupe window: a retried request_id within it appends nothing new. */
  dedupeWindowMs: z.coerce.number().int().min(1000).max(86_400_000).default(120_000),
  scopeCatalogFile: z.string().min(1).default("config/scopes.json"),
  /** 32+ bytes, base64 or hex; when unset a dev key is generated into the data folder. */
  tokenHashKey: z.string().min(1).optional(),
  tokenHashKeyId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).default("k1"),
  accessTokenTtlSeconds: seconds(86_400).default(3600),
  maxAccessTokenTtlSeconds: seconds(86_400).default(86_400),
  refreshTokenTtlSeconds: seconds(365 * 86_400).default(30 * 86_400),
  /** Longest a query waits for the read model to reach a requested min_sequence. */
  minSequenceWaitMs: z.coerce.number().int().min(0).max(60_000).default(2000),
  /** How often a command is re-decided after an optimistic-concurrency conflict. */
  commandRetries: z.coerce.number().int().min(0).max(50).default(8),
  /** Expired tokens stay in the read model this long before batch cleanup removes them. */
  expiredTokenGraceSeconds: z.coerce.number().int().min(0).default(300),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
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
  GL_DEDUPE_WINDOW_MS: "dedupeWindowMs",
  GL_SCOPE_CATALOG: "scopeCatalogFile",
  GL_TOKEN_HASH_KEY: "tokenHashKey",
  GL_TOKEN_HASH_KEY_ID: "tokenHashKeyId",
  GL_ACCESS_TOKEN_TTL_SECONDS: "accessTokenTtlSeconds",
  GL_MAX_ACCESS_TOKEN_TTL_SECONDS: "maxAccessTokenTtlSeconds",
  GL_REFRESH_TOKEN_TTL_SECONDS: "refreshTokenTtlSeconds",
  GL_MIN_SEQUENCE_WAIT_MS: "minSequenceWaitMs",
  GL_COMMAND_RETRIES: "commandRetries",
  GL_EXPIRED_TOKEN_GRACE_SECONDS: "expiredTokenGraceSeconds",
  LOG_LEVEL: "logLevel",
};

/** Config from the environment over `overrides` over defaults; throws a readable error naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigInput = {}): Config {
  const input: Record<string, unknown> = { ...overrides };
  for (const [name, key] of Object.entries(ENVIRONMENT)) {
    const value = env[name];
    if (value !== undefined && value !== "") input[key] = value;
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
