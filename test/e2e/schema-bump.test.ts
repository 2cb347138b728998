import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { projectionFileDigest, readPointer } from "../../projections/runner/index.js";
import { createTokensProjection, TOKENS_PROJECTION_VERSION } from "../../projections/tokens/index.js";
import { startLedgerNode, type LedgerNode } from "../../services/app/ledger.js";
import { createLogger } from "../../services/app/logger.js";
import { loadConfig } from "../../services/config/config.js";
import { connectEventLog } from "../../services/eventlog/index.js";
import { clientAndGrant, issue, rid } from "../support/e2e-harness.js";
import { clientRegistered, grantCreated, issued, LogWriter, tokenIssued } from "../support/envelopes.js";
import { actor, connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { LogCapture, startTestLedger, type TestLedger } from "../support/ledger.js";
import { runCli } from "../support/security.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const say = (line: string): void => console.log(`[schema-bump] ${line}`);
const NO_CLEANUP = { expiredTokenGraceSeconds: 10 * 365 * 86_400 };

const digestOf = (file: string) => projectionFileDigest(file, "tokens");
/** This build's version; the test builds pretend to be the next two. */
const V = TOKENS_PROJECTION_VERSION;

describe("schema-version bump in a test build: automatic blue-green rebuild on start", () => {
  let nats: NatsServer;
  let dataDir: string;
  const stops: Array<() => Promise<void>> = [];
  /** Tokens with whether they must introspect active. */
  const expected = new Map<string, boolean>();
  let head = 0;

  beforeAll(async () => {
    nats = await startNatsServer();
    dataDir = await mkdtemp(join(tmpdir(), "gl-schema-bump-"));
    // This build (version V) fills the log and its file, then stops.
    const first = await startTestLedger(nats.url, { dataDir, ...NO_CLEANUP });
    const api = connectClients(first.address);
    const log = await connectEventLog({ servers: nats.url, stream: first.config.stream, subjectRoot: first.config.subjectRoot });
    try {
      const writer = new LogWriter(log, Date.now());
      await writer.append(clientRegistered("filler-client"));
      for (let start = 0; start < 2000; start += 200) {
        await Promise.all(
          Array.from({ length: 200 }, async (_, i) => {
            const g = `filler-${start + i}`;
            await writer.append(grantCreated(g, { clientId: "filler-client" }));
            await writer.append(tokenIssued(g, [issued(`${g}-t`, { expiresAt: Date.now() + 86_400_000 })]));
          }),
        );
      }
      // One grant's issues in sequence (concurrent ones contend on its subject), grants in parallel.
      const fixtures = await Promise.all([0, 1, 2].map(() => clientAndGrant(api)));
      const pairs = await Promise.all(
        fixtures.map(async (f) => {
          const issuedPairs = [];
          for (let n = 0; n < 8; n++) issuedPairs.push(await issue(api, f.grantId));
          return issuedPairs;
        }),
      );
      for (const pair of pairs.flat()) expected.set(pair.accessToken, true).set(pair.refreshToken, true);
      // Access tokens only: revoking a refresh token revokes its family's access token too.
      for (const token of [...expected.keys()].filter((t, i) => t.startsWith("gla_") && i % 4 === 0)) {
        head = (await api.revocation.revokeToken({ requestId: rid(), token, tokenTypeHint: undefined, clientId: undefined }, actor("bump"))).sequence;
        expected.set(token, false);
      }
      head = Math.max(head, await log.headSequence());
      await first.ledger.tokens.waitFor(head, 5000);
    } finally {
      api.close();
      await log.close();
      await first.stop();
    }
    say(`version ${V} file written up to ${head}`);
  }, 120_000);
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await nats?.stop();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  /** Introspects every known token in a loop until `until` resolves; returns failures and wrong answers. */
  const hammer = async (apis: LedgerClients[], until: Promise<unknown>) => {
    let done = false;
    void until.finally(() => (done = true));
    const failures: string[] = [];
    let wrong = 0;
    let requests = 0;
    const tokens = [...expected.keys()];
    await Promise.all(
      apis.flatMap((api) =>
        [0, 1, 2].map(async (w) => {
          for (let i = w; !done; i++) {
            const token = tokens[i % tokens.length] as string;
            try {
              const answer = await api.introspection.introspect({ token, tokenTypeHint: undefined, minSequence: head });
              requests += 1;
              if (answer.active !== expected.get(token)) wrong += 1;
            } catch (error) {
              failures.push(error instanceof Error ? error.message : String(error));
            }
          }
        }),
      ),
    );
    return { failures, wrong, requests };
  };

  /** An introspection-only node on the same data dir (a WAL reader following the pointer). */
  const startReader = async (version: number, servesVersions: number[]): Promise<{ node: LedgerNode; api: LedgerClients }> => {
    const config = loadConfig({}, {
      dataDir,
      grpcPort: 0,
      metricsPort: 0,
      insecureDev: true,
      roles: ["introspection"],
      scopeCatalogFile: join(repoRoot, "config/scopes.json"),
    });
    const node = await startLedgerNode(config, nats.url, createLogger("info", new LogCapture()), {
      tokensProjection: createTokensProjection({ version, servesVersions }),
    });
    const api = connectClients(`127.0.0.1:${node.grpcPort}`);
    stops.push(async () => {
      api.close();
      await node.stop();
    });
    return { node, api };
  };

  it("serves from the version-V file while version V+1 is rebuilt beside it, then switches; no request fails", { timeout: 120_000 }, async () => {
    const bumped = createTokensProjection({ version: V + 1, servesVersions: [V] });
    const ledger: TestLedger = await startTestLedger(nats.url, { dataDir, ...NO_CLEANUP }, { tokensProjection: bumped });
    const api = connectClients(ledger.address);
    stops.push(async () => {
      api.close();
      await ledger.stop();
    });
    const reader = await startReader(V + 1, [V]);
    const dir = join(dataDir, "projections");
    const switched = (async () => {
      while (ledger.ledger.tokens.active.version !== V + 1 || reader.node.tokens?.active.version !== V + 1) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 500)); // and some load on the new file
    })();
    const result = await hammer([api, reader.api], switched);
    say(`${result.requests} introspections (projector process and a reader process) across the automatic rebuild; ${result.failures.length} failed, ${result.wrong} wrong`);
    expect(ledger.logs.lines.some((l) => l.includes("serving from it while the new version is rebuilt"))).toBe(true);
    expect(result.failures).toEqual([]);
    expect(result.wrong).toBe(0);
    expect(readPointer(dir, "tokens")).toMatchObject({ version: V + 1, generation: 1, file: `tokens.v${V + 1}.g1.db` });

    // After the handover grace both files stopped at the same sequence with the same rows.
    await new Promise((r) => setTimeout(r, 3500));
    const oldDigest = digestOf(join(dir, `tokens.v${V}.db`));
    const newDigest = digestOf(join(dir, `tokens.v${V + 1}.g1.db`));
    expect(newDigest.version).toBe(V + 1);
    expect(oldDigest.version).toBe(V);
    expect({ ...newDigest, version: 0 }).toEqual({ ...oldDigest, version: 0 });
  });

  it("a file of a version the build cannot serve is rebuilt before the process serves", { timeout: 120_000 }, async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    const started = Date.now();
    const ledger = await startTestLedger(nats.url, { dataDir, ...NO_CLEANUP }, { tokensProjection: createTokensProjection({ version: V + 2 }) });
    const api = connectClients(ledger.address);
    stops.push(async () => {
      api.close();
      await ledger.stop();
    });
    say(`version ${V + 2} (not serving version ${V + 1} files) started after ${Date.now() - started} ms on ${ledger.ledger.tokens.active.file}`);
    expect(ledger.logs.lines.some((l) => l.includes("rebuilding before serving"))).toBe(true);
    expect(ledger.ledger.tokens.active).toMatchObject({ version: V + 2, generation: 2 });
    const result = await hammer([api], new Promise((r) => setTimeout(r, 500)));
    expect(result.failures).toEqual([]);
    expect(result.wrong).toBe(0);
  });

  it("projections rebuild with no projector running names the new file itself; the next projector resumes it", { timeout: 120_000 }, async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    const dir = join(dataDir, "projections");
    // This build's version (V) again: the version-V+2 file is not servable, so rebuild offline first.
    const rebuilt = await runCli(["projections", "rebuild", "tokens"], { NATS_URL: nats.url, GL_DATA_DIR: dataDir });
    say(`offline rebuild: ${rebuilt.stdout.trim()}`);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toContain("no projector runs");
    expect(readPointer(dir, "tokens")).toMatchObject({ version: V, generation: 3, file: `tokens.v${V}.g3.db` });
    const ledger = await startTestLedger(nats.url, { dataDir, ...NO_CLEANUP });
    const api = connectClients(ledger.address);
    stops.push(async () => {
      api.close();
      await ledger.stop();
    });
    expect(ledger.ledger.tokens.active.file).toBe(`tokens.v${V}.g3.db`);
    expect(ledger.logs.lines.some((l) => l.includes("rebuilding before serving"))).toBe(false);
    const result = await hammer([api], new Promise((r) => setTimeout(r, 300)));
    expect(result.failures).toEqual([]);
    expect(result.wrong).toBe(0);
  });
});
