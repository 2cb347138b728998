import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { ClientServiceClient, ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import { GrantServiceClient } from "../../../services/gen/grantledger/v1/grant_service.js";
import { IntrospectionServiceClient } from "../../../services/gen/grantledger/v1/introspection_service.js";
import { TokenServiceClient, type IssueTokensResponse } from "../../../services/gen/grantledger/v1/token_service.js";
import { freePort, startNatsServer, type NatsServer } from "../../nats-server.js";
import { repoRoot, spawnLedgerCli, type Child } from "./proc.js";

/** A nats-server and a ledger (`grant-ledger serve`) in their own processes, on a temp store. */
export interface LedgerUnderTest {
  readonly nats: NatsServer;
  readonly ledger: Child;
  readonly address: string;
  readonly dataDir: string;
  /** Pid of the nats-server process. */
  natsPid(): number;
  stop(): Promise<void>;
}

export interface StartLedgerOptions {
  /** Write a V8 CPU profile of the ledger into this directory on exit. */
  readonly cpuProfDir?: string;
  /** Extra environment for the ledger. */
  readonly env?: NodeJS.ProcessEnv;
}

/** The environment of every ledger process a benchmark starts. */
export function ledgerEnv(natsUrl: string, dataDir: string, grpcPort: number): NodeJS.ProcessEnv {
  return {
    NATS_URL: natsUrl,
    GL_GRPC_PORT: String(grpcPort),
    GL_DATA_DIR: dataDir,
    GL_SCOPE_CATALOG: join(repoRoot, "config/scopes.json"),
    LOG_LEVEL: "warn",
    // Benchmarks measure the ledger, not TLS: plaintext on loopback, as `npm start` serves.
    GL_INSECURE_DEV: "1",
    // The load generator is one caller: the per-caller introspection limit (2,000/s by default)
    // would measure the limiter, not the ledger.
    GL_INTROSPECT_RATE: "1000000",
    GL_INTROSPECT_BURST: "10000000",
  };
}

/**
 * One more process on a running ledger's NATS and data dir: `serve --roles http` on `httpPort`,
 * reading the projector's file (no metrics port). Resolves once the port accepts connections.
 */
export async function startHttpProcess(target: LedgerUnderTest, httpPort: number, cpuProfDir?: string): Promise<Child> {
  const nodeArgs = cpuProfDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`];
  const env = { ...ledgerEnv(target.nats.url, target.dataDir, await freePort()), GL_ROLES: "http", GL_HTTP_PORT: String(httpPort), GL_METRICS_PORT: "0" };
  const child = spawnLedgerCli(["serve"], env, nodeArgs);
  try {
    await child.waitForPort(httpPort);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return child;
}

export async function startLedgerUnderTest(options: StartLedgerOptions = {}): Promise<LedgerUnderTest> {
  const nats = await startNatsServer();
  const dataDir = await mkdtemp(join(tmpdir(), "gl-bench-"));
  const port = await freePort();
  const nodeArgs = options.cpuProfDir === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`];
  const ledger = spawnLedgerCli(["serve"], { ...ledgerEnv(nats.url, dataDir, port), ...options.env }, nodeArgs);
  try {
    await ledger.waitForPort(port);
  } catch (error) {
    await ledger.stop();
    await nats.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    nats,
    ledger,
    address: `127.0.0.1:${port}`,
    dataDir,
    natsPid: () => nats.pid,
    async stop() {
      await ledger.stop();
      await nats.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

type Callback<Res> = (error: ServiceError | null, response: Res) => void;

/** One unary call as a promise, naming its caller with `x-actor` (what `--insecure-dev` serving takes). */
export const call = <Res>(
  invoke: (metadata: Metadata, options: { deadline: number }, cb: Callback<Res>) => unknown,
  actor = "bench-setup",
  timeoutMs = 30_000,
): Promise<Res> =>
  new Promise((resolveCall, reject) => {
    const metadata = new Metadata();
    metadata.set("x-actor", actor);
    invoke(metadata, { deadline: Date.now() + timeoutMs }, (error, response) => (error ? reject(error) : resolveCall(response)));
  });

/** Runs `task(i)` for i in [0, count) with at most `limit` in flight. */
export async function inParallel<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  return out;
}

/** What the setup put into the ledger through its API. */
export interface Seeded {
  readonly clientId: string;
  /** The client's secret (for the load generator only, like the tokens). */
  readonly clientSecret: string;
  readonly grantIds: string[];
  /** Access and refresh tokens, plaintext (for the load generator only; never written beyond a temp file). */
  readonly tokens: string[];
  /** Highest sequence of the appends. */
  readonly lastSequence: number;
}

export const SCOPES = ["account:read", "zone:read", "dns:read", "dns:edit", "offline_access"];

/**
 * Registers one confidential client, `grants` grants, and `pairs` IssueTokens calls (access +
 * refresh) spread over the grants, then waits until the read model has applied the last one.
 */
export async function seedLedger(address: string, grants: number, pairs: number, concurrency = 64): Promise<Seeded> {
  const creds = credentials.createInsecure();
  const clientService = new ClientServiceClient(address, creds);
  const options = { channelOverride: clientService.getChannel() };
  const grantService = new GrantServiceClient(address, creds, options);
  const tokenService = new TokenServiceClient(address, creds, options);
  const introspection = new IntrospectionServiceClient(address, creds, options);
  try {
    const client = await call<{ clientId: string; clientSecret: string }>((m, o, cb) =>
      clientService.registerClient(
        {
          requestId: "bench-client",
          ownerAccount: "acct-bench",
          name: "Bench app",
          redirectUris: ["https://app.example/callback"],
          allowedScopes: SCOPES,
          clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
        },
        m,
        o,
        cb,
      ),
    );
    const grantIds = await inParallel(grants, Math.min(concurrency, grants), (i) =>
      call<{ grantId: string }>((m, o, cb) =>
        grantService.createGrant(
          { requestId: `bench-grant-${i}`, subject: `user-${i}`, clientId: client.clientId, scopes: SCOPES, resources: [`acct-${i}`] },
          m,
          o,
          cb,
        ),
      ).then((g) => g.grantId),
    );
    // One lane per grant at most: issuing under one grant is serialized by the log (OCC).
    const issued = await inParallel(pairs, Math.min(concurrency, grants), (i) =>
      call<IssueTokensResponse>((m, o, cb) =>
        tokenService.issueTokens(
          { requestId: `bench-issue-${i}`, grantId: grantIds[i % grantIds.length] as string, scopes: [], includeRefreshToken: true },
          m,
          o,
          cb,
        ),
      ),
    );
    const lastSequence = Math.max(0, ...issued.map((r) => r.sequence));
    const tokens = issued.flatMap((r) => [r.accessToken, r.refreshToken]);
    const probe = tokens[tokens.length - 1];
    if (probe !== undefined) {
      const seen = await call<{ active: boolean }>((m, o, cb) =>
        introspection.introspect({ token: probe, minSequence: lastSequence }, m, o, cb),
      );
      if (!seen.active) throw new Error("a freshly issued token introspects inactive");
    }
    return { clientId: client.clientId, clientSecret: client.clientSecret, grantIds, tokens, lastSequence };
  } finally {
    clientService.close();
  }
}

/**
 * Seeds `tokens` tokens over `grants` grants ({@link seedLedger}: access + refresh pairs) and writes
 * them, one per line, to `<dataDir>/bench-tokens.txt` for the load generator.
 */
export async function seedTokensFile(target: LedgerUnderTest, grants: number, tokens: number): Promise<{ seeded: Seeded; tokensFile: string }> {
  let seeded: Seeded;
  try {
    seeded = await seedLedger(target.address, grants, Math.ceil(tokens / 2));
  } catch (error) {
    // Once a ledger went away right after its port answered: say what it printed.
    const { exitCode, signalCode } = target.ledger.proc;
    const state = exitCode === null && signalCode === null ? "still running" : `exited (${exitCode ?? signalCode})`;
    throw new Error(`seeding the ledger failed (${error instanceof Error ? error.message : String(error)}); the ledger ${state}, its output:\n${target.ledger.output().slice(-4_000)}`, { cause: error });
  }
  const tokensFile = join(target.dataDir, "bench-tokens.txt");
  await writeFile(tokensFile, seeded.tokens.slice(0, tokens).join("\n"));
  return { seeded, tokensFile };
}
