import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { canConnect } from "../../../scripts/nats-server.js";
import { runCli } from "../../support/security.js";

describe("grant-ledger nats cluster up|down", () => {
  let env: NodeJS.ProcessEnv = {};
  let dataDir: string | undefined;
  afterAll(async () => {
    await runCli(["nats", "cluster", "down"], env);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it("starts three routed nodes that place a replicas-3 stream, prints NATS_URL, and stops them", { timeout: 150_000 }, async () => {
    dataDir = await mkdtemp(join(tmpdir(), "gl-cluster-cli-"));
    env = { GL_DATA_DIR: dataDir, NATS_URL: "", GL_ROLES: "", GL_TOKEN_HASH_KEY: "" };
    const up = await runCli(["nats", "cluster", "up"], env);
    expect(up.code, up.stderr).toBe(0);
    const url = /export NATS_URL=(\S+) GL_STREAM_REPLICAS=3/.exec(up.stdout)?.[1];
    expect(url).toBeDefined();
    const servers = (url as string).split(",");
    expect(servers).toHaveLength(3);

    const nc = await connect({ servers, timeout: 5_000 });
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      const info = await jsm.streams.add({ name: "CLI_R3", subjects: ["cli.r3"], storage: StorageType.File, num_replicas: 3 });
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas?.length).toBe(2);
    } finally {
      await nc.close();
    }

    const again = await runCli(["nats", "cluster", "up"], env);
    expect(again.code, again.stderr).toBe(0);
    const down = await runCli(["nats", "cluster", "down"], env);
    expect(down.code, down.stderr).toBe(0);
    const ports = servers.map((s) => Number(new URL(s).port));
    for (const port of ports) expect(await canConnect(port)).toBe(false);
  });
});
