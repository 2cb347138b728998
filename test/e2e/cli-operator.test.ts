import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientAndGrant, issue } from "../support/e2e-harness.js";
import { connectClients } from "../support/grpc-clients.js";
import { startTestLedger, type TestLedger } from "../support/ledger.js";
import { freePort } from "../support/nats-server.js";
import { sleep } from "../support/fault-kit.js";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const CLI = ["--import", "tsx", join(repoRoot, "scripts/cli.ts")];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [...CLI, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      done({ code, stdout, stderr });
    });
  });
}

describe("operator CLI: config check, nats up|down, stream info, tail, projections status", () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let ledger: TestLedger | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "gl-cli-"));
    const port = await freePort();
    env = { GL_DATA_DIR: dataDir, GL_NATS_PORT: String(port), NATS_URL: "", GL_ROLES: "", GL_TOKEN_HASH_KEY: "" };
  });
  afterAll(async () => {
    await ledger?.stop();
    await cli(["nats", "down"], env);
    await rm(dataDir, { recursive: true, force: true });
  });

  it("config check prints the effective configuration with secrets masked, and rejects bad values with exit 2", async () => {
    const secret = Buffer.alloc(32, 7).toString("base64");
    const ok = await cli(["config", "check"], { ...env, GL_TOKEN_HASH_KEY: secret, NATS_URL: "nats://op:hunter2@10.0.0.1:4222", GL_ROLES: "introspection" });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/GL_ROLES\s+roles\s+introspection\s+env/);
    expect(ok.stdout).toMatch(/GL_MAX_STALENESS_MS\s+maxStalenessMs\s+5000\s+default/);
    expect(ok.stdout).toContain("**** (set)");
    expect(ok.stdout).not.toContain(secret);
    expect(ok.stdout).not.toContain("hunter2");
    const bad = await cli(["config", "check"], { ...env, GL_ROLES: "commands,bogus", GL_METRICS_PORT: "http" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('GL_ROLES: unknown role "bogus"');
    expect(bad.stderr).toContain("GL_METRICS_PORT:");
  });

  it("nats up starts the local server with a pid file, stream info and tail read its log, nats down stops it", { timeout: 120_000 }, async () => {
    const up = await cli(["nats", "up"], env);
    expect(up.code, up.stderr).toBe(0);
    const pidFile = join(dataDir, "nats", "nats-server.pid");
    expect(existsSync(pidFile)).toBe(true);
    const pid = Number(readFileSync(pidFile, "utf8"));
    const again = await cli(["nats", "up"], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`already running (pid ${pid})`);

    const url = `nats://127.0.0.1:${env["GL_NATS_PORT"]}`;
    ledger = await startTestLedger(url, { dataDir });
    const api = connectClients(ledger.address);
    const tailProc = spawn(process.execPath, [...CLI, "tail", "--type", "grant.", "--aggregate", "grant"], {
      cwd: repoRoot,
      env: { ...process.env, ...env, NATS_URL: url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let tailed = "";
    let tailErr = "";
    tailProc.stdout.on("data", (chunk: Buffer) => (tailed += chunk.toString()));
    tailProc.stderr.on("data", (chunk: Buffer) => (tailErr += chunk.toString()));
    for (let i = 0; i < 100 && !tailErr.includes("tailing"); i++) await sleep(100);
    try {
      for (let i = 0; i < 3; i++) {
        const f = await clientAndGrant(api);
        await issue(api, f.grantId);
      }
    } finally {
      api.close();
    }
    for (let i = 0; i < 100 && tailed.split("\n").filter((l) => l !== "").length < 3; i++) await sleep(100);
    const exited = new Promise<number | null>((r) => tailProc.once("exit", (code) => r(code)));
    tailProc.kill("SIGINT");
    expect(await exited).toBe(0);
    const lines = tailed.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { type: string; aggregate: string; seq: number });
    // Only grant.* events: token.issued lives on grants but is not a grant.* type; client events are filtered out.
    expect(lines.map((l) => l.type)).toEqual(["grant.created", "grant.created", "grant.created"]);
    expect(lines.every((l) => l.aggregate.startsWith("grant:"))).toBe(true);

    const info = await cli(["stream", "info", "--json"], { ...env, NATS_URL: url });
    expect(info.code, info.stderr).toBe(0);
    const report = JSON.parse(info.stdout) as Record<string, unknown>;
    expect(report).toMatchObject({
      stream: "LEDGER",
      messages: 9,
      firstSeq: 1,
      lastSeq: 9,
      aggregates: 6,
      messagesByAggregateKind: { client: 3, grant: 6 },
      eventsByType: { "client.registered": 3, "grant.created": 3, "token.issued": 3 },
      complete: true,
    });
    expect(report["bytes"]).toBeGreaterThan(0);

    await ledger.ledger.projection.waitFor(9, 5_000);
    const status = await cli(["projections", "status", "--json"], { ...env, NATS_URL: url });
    expect(status.code, status.stderr).toBe(0);
    const projections = (JSON.parse(status.stdout) as { head: number; projections: Array<Record<string, unknown>> });
    expect(projections.head).toBe(9);
    expect(projections.projections.map((p) => [p["name"], p["appliedSeq"], p["lagEvents"], p["lagMs"]])).toEqual([
      ["tokens", 9, 0, 0],
      ["audit", 9, 0, 0],
    ]);
    expect(projections.projections[0]?.["bytes"]).toBeGreaterThan(4096);
    await ledger.stop();
    ledger = undefined;

    const down = await cli(["nats", "down"], env);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain(`(pid ${pid}) stopped`);
    expect(existsSync(pidFile)).toBe(false);
    const downAgain = await cli(["nats", "down"], env);
    expect(downAgain).toMatchObject({ code: 0, stdout: "nats-server is not running\n" });
    const noServer = await cli(["stream", "info"], { ...env, NATS_URL: url });
    expect(noServer.code).not.toBe(0);
    // The log is gone: status still shows the files, and says the lag is unknown with exit 1.
    const offline = await cli(["projections", "status"], { ...env, NATS_URL: url });
    expect(offline.code).toBe(1);
    expect(offline.stdout).toContain("applied seq 9");
    expect(offline.stdout).toContain("lag unknown");
  });

  it("bad usage exits 2", async () => {
    expect((await cli(["tail", "--from", "x"], env)).code).toBe(2);
    expect((await cli(["stream", "info", "--bogus"], env)).code).toBe(2);
    expect((await cli(["nope"], env)).code).toBe(2);
  });
});
