import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../../services/config/config.js";
import { devKeyFiles, loadKeyring, rotateDevTokenHashKey } from "../../../services/config/keys.js";
import { createKeyring, hashToken } from "../../../services/crypto/keys.js";

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "gl-keyring-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const b64 = (fill: number): string => Buffer.alloc(32, fill).toString("base64");

describe("loadKeyring: configured keys", () => {
  it("GL_TOKEN_HASH_OLD_KEYS verify, GL_REQUEST_KEY is the stable key the request-side keys derive from", () => {
    const config = loadConfig({ GL_TOKEN_HASH_KEY: b64(2), GL_TOKEN_HASH_KEY_ID: "k2", GL_TOKEN_HASH_OLD_KEYS: `k1:${b64(1)},k0:${b64(9)}`, GL_REQUEST_KEY: `k1:${b64(1)}` });
    const keyring = loadKeyring(config);
    expect(keyring.current.id).toBe("k2");
    expect(keyring.verifying.map((k) => k.id)).toEqual(["k2", "k1", "k0"]);
    // Exactly what the ledger derived before its first rotation, when k1 was its only key.
    const before = createKeyring({ id: "k1", secret: Buffer.alloc(32, 1) });
    expect(keyring.requestKey.equals(before.requestKey)).toBe(true);
    expect(keyring.outcomeKey.equals(before.outcomeKey)).toBe(true);
    expect(hashToken(keyring.stable, "x")).toBe(hashToken(before.current, "x"));
  });

  it("without older keys the token-hash key is also the request key (as before rotation existed)", () => {
    const keyring = loadKeyring(loadConfig({ GL_TOKEN_HASH_KEY: b64(1) }));
    expect(keyring.stable).toBe(keyring.current);
    expect(keyring.requestKey.equals(createKeyring({ id: "k1", secret: Buffer.alloc(32, 1) }).requestKey)).toBe(true);
  });

  it("older keys without GL_REQUEST_KEY refuse to start; malformed lists name the variable", () => {
    expect(() => loadKeyring(loadConfig({ GL_TOKEN_HASH_KEY: b64(2), GL_TOKEN_HASH_OLD_KEYS: `k1:${b64(1)}` }))).toThrow(/GL_REQUEST_KEY/);
    expect(() => loadConfig({ GL_TOKEN_HASH_OLD_KEYS: "no-colon" })).toThrow(/GL_TOKEN_HASH_OLD_KEYS/);
    expect(() => loadConfig({ GL_REQUEST_KEY: "a:b:c" })).toThrow(/GL_REQUEST_KEY/);
    expect(() => loadKeyring(loadConfig({ GL_TOKEN_HASH_KEY: b64(2), GL_TOKEN_HASH_OLD_KEYS: "k1:c2hvcnQ=", GL_REQUEST_KEY: `k1:${b64(1)}` }))).toThrow(/at least 32 bytes/);
  });

  it("keys rotate refuses configured keys", () => {
    expect(() => rotateDevTokenHashKey(loadConfig({ GL_TOKEN_HASH_KEY: b64(1), GL_DATA_DIR: tempDir() }))).toThrow(/GL_TOKEN_HASH_KEY is set/);
  });
});

describe("loadKeyring: dev keys under <dataDir>/keys", () => {
  it("a data dir from before rotation (keys/token-hash.key) keeps its key id and its request-side keys", () => {
    const dataDir = tempDir();
    const secret = randomBytes(32);
    mkdirSync(join(dataDir, "keys"));
    writeFileSync(join(dataDir, "keys", "token-hash.key"), secret.toString("base64") + "\n");
    const config = loadConfig({ GL_DATA_DIR: dataDir });
    const keyring = loadKeyring(config);
    const before = createKeyring({ id: "k1", secret });
    expect(keyring.current).toEqual({ id: "k1", secret });
    expect(keyring.requestKey.equals(before.requestKey)).toBe(true);
    expect(readFileSync(devKeyFiles(config).request, "utf8").trim()).toBe(`k1:${secret.toString("base64")}`);

    // Rotate twice: the legacy key keeps verifying, the request key never moves.
    expect(rotateDevTokenHashKey(config)).toEqual({ current: "k2", verifying: ["k2", "k1"] });
    expect(rotateDevTokenHashKey(config, "spring")).toEqual({ current: "spring", verifying: ["spring", "k2", "k1"] });
    const after = loadKeyring(config);
    expect(after.current.id).toBe("spring");
    expect(after.verifying.map((k) => k.id).sort()).toEqual(["k1", "k2", "spring"]);
    expect(after.requestKey.equals(before.requestKey)).toBe(true);
    expect(() => rotateDevTokenHashKey(config, "k2")).toThrow(/already exists/);
    expect(() => rotateDevTokenHashKey(config, "bad id")).toThrow(/key id/);
  });

  it("a fresh data dir gets keys/token-hash/<id>.key, a current pointer and its own request key file (mode 0600)", () => {
    const config = loadConfig({ GL_DATA_DIR: tempDir(), GL_TOKEN_HASH_KEY_ID: "a1" });
    const keyring = loadKeyring(config);
    const files = devKeyFiles(config);
    expect(keyring.current.id).toBe("a1");
    expect(readFileSync(files.current, "utf8").trim()).toBe("a1");
    for (const file of [join(files.dir, "a1.key"), files.current, files.request]) expect(statSync(file).mode & 0o777, file).toBe(0o600);
    expect(loadKeyring(config).current.secret.equals(keyring.current.secret)).toBe(true);
    expect(loadKeyring(config).requestKey.equals(keyring.requestKey)).toBe(true);
  });
});
