import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientType } from "../../services/gen/grantledger/v1/client_service.js";
import { rid } from "../support/e2e-harness.js";
import { actor, connectClients, type LedgerClients } from "../support/grpc-clients.js";
import { BUILT_CLI, spawnLedgerProcess, type LedgerProcess } from "../support/ledger.js";
import { startNatsServer, type NatsServer } from "../support/nats-server.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const run = promisify(execFile);

/**
 * `npm start` and the grant-ledger CLI run the build in dist/ (scripts/build.sh), not the sources the
 * rest of the suite runs through tsx: this checks that build serves, files next to the code
 * (descriptor sets for reflection) included.
 */
describe("e2e: the built service (dist/), as npm start runs it", () => {
  let nats: NatsServer;
  let ledger: LedgerProcess;
  let api: LedgerClients;
  let dir: string;

  beforeAll(async () => {
    await run("bash", [join(repoRoot, "scripts/build.sh")], { cwd: repoRoot, timeout: 170_000 });
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "gl-built-"));
    ledger = await spawnLedgerProcess(nats.url, dir, {}, undefined, BUILT_CLI);
    api = connectClients(ledger.address);
  }, 240_000);
  afterAll(async () => {
    api?.close();
    await ledger?.kill();
    await nats?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it("serves commands and introspection from the built code", async () => {
    expect(ledger.child.spawnargs.join(" ")).toContain("dist/scripts/cli.js");
    const client = await api.clients.registerClient(
      {
        requestId: rid(),
        ownerAccount: "acct-built",
        name: "Built",
        redirectUris: ["https://app.example.com/cb"],
        allowedScopes: ["zone:read"],
        clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
      },
      actor("console"),
    );
    const grant = await api.grants.createGrant(
      { requestId: rid(), subject: "u-built", clientId: client.clientId, scopes: ["zone:read"], resources: ["acct-1"], expiresAt: undefined },
      actor("front-door"),
    );
    const issued = await api.tokens.issueTokens({ requestId: rid(), grantId: grant.grantId, scopes: [], includeRefreshToken: false }, actor("front-door"));
    const answer = await api.introspection.introspect({ token: issued.accessToken, tokenTypeHint: undefined, minSequence: issued.sequence });
    expect(answer).toMatchObject({ active: true, clientId: client.clientId });
  });

  it("answers server reflection (the descriptor sets were copied next to the build)", async () => {
    const { stdout } = await run(
      join(repoRoot, "node_modules/.bin/buf"),
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect", "--list-services", `http://${ledger.address}`],
      { cwd: repoRoot, timeout: 20_000 },
    );
    expect(stdout).toContain("grantledger.v1.IntrospectionService");
  });
});
