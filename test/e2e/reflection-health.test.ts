import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatToken } from "../../services/domain/shared/token-format.js";
import { clientAndGrant, issue, startE2E, type E2E } from "../support/e2e-harness.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const buf = resolve(repoRoot, "node_modules/.bin/buf");

/** Any gRPC client works: `buf curl` knows nothing of this repo's protos and learns them by reflection. */
describe("e2e: server reflection and health, through buf curl", () => {
  let e2e: E2E;
  beforeAll(async () => {
    e2e = await startE2E();
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  const curl = async (...args: string[]): Promise<string> => {
    const { stdout } = await promisify(execFile)(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect", ...args], {
      cwd: repoRoot,
      timeout: 20_000,
    });
    return stdout;
  };
  const url = (path = ""): string => `http://${e2e.ledger.address}${path}`;

  it("lists every service", async () => {
    const services = (await curl("--list-services", url())).split("\n").filter((l) => l !== "");
    expect(services).toEqual(
      expect.arrayContaining([
        "grantledger.v1.ClientService",
        "grantledger.v1.GrantService",
        "grantledger.v1.TokenService",
        "grantledger.v1.IntrospectionService",
        "grantledger.v1.RevocationService",
        "grpc.health.v1.Health",
      ]),
    );
  });

  it("calls Introspect with a JSON body (active and inactive)", async () => {
    const f = await clientAndGrant(e2e.api);
    const issued = await issue(e2e.api, f.grantId);
    const active = JSON.parse(
      await curl("--data", JSON.stringify({ token: issued.accessToken, min_sequence: issued.sequence }), url("/grantledger.v1.IntrospectionService/Introspect")),
    ) as Record<string, unknown>;
    // proto3 JSON: camelCase names, int64 as strings.
    expect(active).toMatchObject({ active: true, clientId: f.clientId, sub: f.subject, tokenType: "access_token", jti: issued.accessTokenId, grantId: f.grantId });
    expect(Number(active["exp"]) - Number(active["iat"])).toBe(e2e.ledger.config.accessTokenTtlSeconds);

    const inactive = JSON.parse(
      await curl("--data", JSON.stringify({ token: formatToken("access_token", new Uint8Array(32).fill(3)) }), url("/grantledger.v1.IntrospectionService/Introspect")),
    ) as Record<string, unknown>;
    // Every field but active is at its default, which proto3 JSON leaves out: `{}`.
    expect(inactive).toEqual({});
  });

  it("grpc.health.v1.Health/Check answers SERVING", async () => {
    const overall = JSON.parse(await curl("--data", "{}", url("/grpc.health.v1.Health/Check"))) as Record<string, unknown>;
    expect(overall).toEqual({ status: "SERVING" });
  });
});
