import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../services/config/config.js";
import { maskedConfig } from "../../../scripts/cli/config-check.js";

describe("config: roles, staleness bound, metrics", () => {
  it("runs every role by default; GL_ROLES takes any subset, in canonical order, deduplicated", () => {
    expect(loadConfig({}).roles).toEqual(["commands", "introspection", "projector", "checkpointer"]);
    expect(loadConfig({ GL_ROLES: " projector , introspection,projector" }).roles).toEqual(["introspection", "projector"]);
  });

  it("names every bad variable in one error", () => {
    expect(() => loadConfig({ GL_ROLES: "commands,reader", GL_MAX_STALENESS_MS: "-5", GL_METRICS_PORT: "70000" })).toThrow(
      /GL_MAX_STALENESS_MS: .*\n.*GL_METRICS_PORT: .*\n.*GL_ROLES: unknown role "reader"; roles are commands, introspection, projector, checkpointer/s,
    );
    expect(() => loadConfig({ GL_ROLES: "," })).toThrow(/GL_ROLES: at least one role/);
  });

  it("takes GL_HTTP_WORKERS (default 1) only with the http role, between 1 and 64", () => {
    expect(loadConfig({}).httpWorkers).toBe(1);
    expect(loadConfig({ GL_ROLES: "projector,http", GL_HTTP_WORKERS: "2" }).httpWorkers).toBe(2);
    expect(() => loadConfig({ GL_HTTP_WORKERS: "2" })).toThrow(/GL_HTTP_WORKERS: HTTP workers serve the http role/);
    expect(() => loadConfig({ GL_ROLES: "http", GL_HTTP_WORKERS: "0" })).toThrow(/GL_HTTP_WORKERS: /);
    expect(() => loadConfig({ GL_ROLES: "http", GL_HTTP_WORKERS: "1.5" })).toThrow(/GL_HTTP_WORKERS: /);
    expect(() => loadConfig({ GL_ROLES: "http", GL_HTTP_WORKERS: "65" })).toThrow(/GL_HTTP_WORKERS: /);
    // Worker i serves its metrics on GL_METRICS_PORT + i.
    expect(() => loadConfig({ GL_ROLES: "http", GL_HTTP_WORKERS: "4", GL_METRICS_PORT: "65533" })).toThrow(/GL_HTTP_WORKERS: worker metrics take GL_METRICS_PORT \+ 1\.\.4/);
    expect(loadConfig({ GL_ROLES: "http", GL_HTTP_WORKERS: "4", GL_METRICS_PORT: "0" }).httpWorkers).toBe(4);
  });

  it("lets flags win over the environment when asked", () => {
    expect(loadConfig({ GL_ROLES: "commands" }, { roles: "introspection" }).roles).toEqual(["commands"]);
    expect(loadConfig({ GL_ROLES: "commands" }, { roles: "introspection" }, { flagsWin: true }).roles).toEqual(["introspection"]);
  });

  it("masks secrets and URL passwords in `config check`", () => {
    const config = loadConfig({ GL_TOKEN_HASH_KEY: "a".repeat(44), NATS_URL: "nats://u:pw@h1:4222,nats://h2:4222" });
    const masked = maskedConfig(config);
    expect(masked["tokenHashKey"]).toBe("**** (set)");
    expect(masked["natsUrl"]).toBe("nats://u:****@h1:4222,nats://h2:4222");
    expect(JSON.stringify(masked)).not.toContain("aaaa");
  });

  it("reads an optional JSON file (GL_CONFIG_FILE) under the environment, naming unknown keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "gl-config-"));
    const file = join(dir, "ledger.json");
    writeFileSync(file, JSON.stringify({ GL_ROLES: "introspection", maxStalenessMs: 2000, GL_GRPC_PORT: 50060 }));
    const config = loadConfig({ GL_CONFIG_FILE: file, GL_GRPC_PORT: "50061" });
    expect(config).toMatchObject({ roles: ["introspection"], maxStalenessMs: 2000, grpcPort: 50061 });
    writeFileSync(file, JSON.stringify({ GL_ROLES: "nope", bogus: 1 }));
    expect(() => loadConfig({ GL_CONFIG_FILE: file })).toThrow(/GL_CONFIG_FILE: .*unknown key "bogus"/);
    writeFileSync(file, JSON.stringify({ GL_ROLES: "nope" }));
    expect(() => loadConfig({ GL_CONFIG_FILE: file })).toThrow(/GL_ROLES: unknown role "nope"/);
    expect(() => loadConfig({ GL_CONFIG_FILE: join(dir, "missing.json") })).toThrow(/GL_CONFIG_FILE: cannot read/);
  });
});
