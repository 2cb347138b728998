import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createJetStreamEventLog, ensureStream, type StoredMessage } from "../../../services/eventlog/index.js";
import { ClientType } from "../../../services/gen/grantledger/v1/client_service.js";
import {
  Checkpointer,
  openCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  readRaw,
  verifyConsistency,
  verifyInclusion,
  verifyLog,
  type NoteVerifier,
  type VerifyReport,
} from "../../../services/transparency/index.js";
import { actor, connectClients, type LedgerClients } from "../../support/grpc-clients.js";
import { startTestLedger, type TestLedger } from "../../support/ledger.js";
import { startNatsServer, type NatsServer } from "../../support/nats-server.js";
import { MTH, PROOF } from "../../support/naive-rfc9162.js";

const repoRoot = resolve(fileURLToPath(new URL("../../..", import.meta.url)));
const rid = (): string => randomUUID();
const md = actor("auditor-test");

/**
 * Tamper evidence on a real nats-server: a real history built through the gRPC API with signed
 * checkpoints, copied into second streams with one kind of tampering each, and `audit verify`
 * (the function, and once the CLI) pointed at each copy.
 */
describe("tamper evidence: audit verify on tampered copies of a real log", () => {
  let nats: NatsServer;
  let ledger: TestLedger;
  let api: LedgerClients;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let verifiers: NoteVerifier[];
  const original: StoredMessage[] = [];
  const stream = `TAMPER_${randomUUID().slice(0, 8)}`;
  const root = `tamper${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    nats = await startNatsServer();
    ledger = await startTestLedger(nats.url, { stream, subjectRoot: root, checkpointIntervalMs: 0, logLevel: "warn" });
    api = connectClients(ledger.address);
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    const checkpointer = ledger.ledger.checkpointer;
    verifiers = [parseVerifierKey(checkpointer.verifierKey)];

    const client = await api.clients.registerClient(
      {
        requestId: rid(),
        ownerAccount: "acme",
        name: "Acme",
        redirectUris: ["https://acme.example.com/cb"],
        allowedScopes: ["account:read", "zone:read", "offline_access"],
        clientType: ClientType.CLIENT_TYPE_CONFIDENTIAL,
      },
      md,
    ); // 1
    const grant = (subject: string) =>
      api.grants.createGrant({ requestId: rid(), subject, clientId: client.clientId, scopes: ["zone:read"], resources: ["z1"], expiresAt: undefined }, md);
    const issue = (grantId: string) => api.tokens.issueTokens({ requestId: rid(), grantId, scopes: [], includeRefreshToken: false }, md);
    const g1 = (await grant("alice")).grantId; // 2
    await issue(g1); // 3
    const g2 = (await grant("bob")).grantId; // 4
    await issue(g1); // 5
    await issue(g2); // 6
    expect((await checkpointer.checkpoint()).seq).toBe(7); // covers 1..6
    await issue(g1); // 8
    await issue(g1); // 9
    await issue(g2); // 10
    await api.revocation.revokeGrant({ requestId: rid(), grantId: g2, reason: "user left" }, md); // 11
    expect((await checkpointer.checkpoint()).seq).toBe(12); // covers 1..11
    await issue(g1); // 13
    await api.clients.suspendClient({ requestId: rid(), clientId: client.clientId, reason: "abuse" }, md); // 14
    const third = await checkpointer.checkpoint(); // 15, covers 1..14
    expect([third.seq, third.treeSize]).toEqual([15, 14]);
    // Asking again with nothing new appended returns the same checkpoint.
    expect((await checkpointer.checkpoint()).seq).toBe(15);
    await api.revocation.revokeSubject({ requestId: rid(), subject: "alice", reason: "sign out" }, md); // 16: not signed yet

    const head = await ledger.ledger.log.headSequence();
    expect(head).toBe(16);
    for await (const m of readRaw(ledger.ledger.log.js, stream, 1, { untilSeq: head })) original.push(m);
  }, 60_000);

  afterAll(async () => {
    api?.close();
    await nc?.close();
    await ledger?.stop();
    await nats?.stop();
  });

  /** Copies `messages` (in the given order) into a fresh stream under a fresh subject root. */
  async function copy(messages: readonly StoredMessage[]): Promise<{ stream: string; root: string }> {
    const target = { stream: `COPY_${randomUUID().slice(0, 8)}`, root: `copy${randomUUID().slice(0, 8)}` };
    await ensureStream(jsm, { stream: target.stream, subjectRoot: target.root });
    const js = jsm.jetstream();
    for (const m of messages) {
      await js.publish(`${target.root}.${m.subject.slice(root.length + 1)}`, m.body, { expect: { streamName: target.stream } });
    }
    return target;
  }

  async function verifyCopy(messages: readonly StoredMessage[]): Promise<VerifyReport> {
    const target = await copy(messages);
    return verifyLog(readRaw(jsm.jetstream(), target.stream, 1, { untilSeq: messages.length }), { subjectRoot: target.root, verifiers });
  }

  const at = (seq: number): StoredMessage => original[seq - 1] as StoredMessage;
  const edited = (m: StoredMessage, edit: (body: Record<string, unknown>) => void): StoredMessage => {
    const body = JSON.parse(Buffer.from(m.body).toString("utf8")) as Record<string, unknown>;
    edit(body);
    return { ...m, body: Buffer.from(JSON.stringify(body)) };
  };

  it("passes the untouched copy", async () => {
    const report = await verifyCopy(original);
    expect(report.breaks).toEqual([]);
    expect(report).toMatchObject({ ok: true, messages: 16, checkpoints: 3, lastCheckpointSize: 14 });
  });

  it("names an edited event: altered at its sequence", async () => {
    const tampered = original.map((m) => (m.seq === 8 ? edited(m, (b) => void (b.actor = "mallory")) : m));
    const report = await verifyCopy(tampered);
    expect(report.ok).toBe(false);
    expect(report.breaks[0]).toMatchObject({ seq: 8, kind: "altered" });
  });

  it("names a dropped event: missing where it was", async () => {
    const report = await verifyCopy(original.filter((m) => m.seq !== 8));
    expect(report.breaks[0]).toMatchObject({ seq: 8, kind: "missing" });
  });

  it("names a duplicated event: duplicated where the copy sits", async () => {
    const tampered = original.flatMap((m) => (m.seq === 10 ? [m, m] : [m]));
    const report = await verifyCopy(tampered);
    expect(report.breaks[0]).toMatchObject({ seq: 11, kind: "duplicated" });
    expect(report.breaks[0]?.detail).toContain("repeats message 10");
  });

  it("names two swapped events of one aggregate: reordered at the first", async () => {
    const tampered = [...original];
    [tampered[7], tampered[8]] = [at(9), at(8)];
    const report = await verifyCopy(tampered);
    expect(report.breaks[0]).toMatchObject({ seq: 8, kind: "reordered" });
  });

  it("names two swapped events of different aggregates (no chain sees it) from the next checkpoint's block hashes", async () => {
    const tampered = [...original];
    [tampered[8], tampered[9]] = [at(10), at(9)];
    const report = await verifyCopy(tampered);
    expect(report.breaks).toHaveLength(1);
    expect(report.breaks[0]).toMatchObject({ seq: 9, kind: "reordered" });
    expect(report.breaks[0]?.detail).toContain("messages 9 and 10 are in each other's place");
  });

  it("without usable block hashes, still catches such a swap at the checkpoint, naming the range", async () => {
    const tampered = [...original];
    [tampered[8], tampered[9]] = [at(10), at(9)];
    // Forged block hashes (they are outside the signed note) must not mislead: they no longer rebuild the root.
    tampered[11] = edited(at(12), (body) => {
      const events = body["events"] as { data: { blocks: { hashes: string } } }[];
      const blocks = (events[0] as { data: { blocks: { hashes: string } } }).data.blocks;
      blocks.hashes = Buffer.alloc(32, 1).toString("base64");
    });
    const report = await verifyCopy(tampered);
    const atCheckpoint = report.breaks.find((b) => b.seq === 12);
    expect(atCheckpoint).toMatchObject({ kind: "altered" });
    expect(atCheckpoint?.detail).toContain("messages 7..11");
  });

  it("names a checkpoint with a wrong signature: bad-signature at its sequence", async () => {
    const tampered = original.map((m) =>
      m.seq === 12
        ? edited(m, (b) => {
            const event = (b.events as { data: { note: string } }[])[0] as { data: { note: string } };
            const sig = event.data.note.match(/ ([A-Za-z0-9+/]+=*)\n$/)?.[1] as string;
            const raw = Buffer.from(sig, "base64");
            raw[10] = (raw[10] as number) ^ 0xff;
            event.data.note = event.data.note.replace(sig, raw.toString("base64"));
          })
        : m,
    );
    const report = await verifyCopy(tampered);
    expect(report.breaks[0]).toMatchObject({ seq: 12, kind: "bad-signature" });
  });

  it("rejects checkpoints signed by a key it does not trust", async () => {
    const stranger = parseVerifierKey(parseSignerKey((await import("../../../services/transparency/note.js")).generateSignerKey(verifiers[0]?.name ?? "x")).verifierKey);
    const target = await copy(original);
    const report = await verifyLog(readRaw(jsm.jetstream(), target.stream, 1, { untilSeq: 16 }), { subjectRoot: target.root, verifiers: [stranger] });
    expect(report.breaks[0]).toMatchObject({ seq: 7, kind: "bad-signature" });
  });

  it("serves proofs that check against the signed checkpoints, equal to a naive RFC 9162 implementation", async () => {
    const checkpointer = ledger.ledger.checkpointer;
    const leaves = original.map((m) => Buffer.from(m.body));
    const signed = checkpointer.all().map((c) => openCheckpoint(c.note, verifiers));
    expect(signed.map((c) => c.treeSize)).toEqual([6, 11, 14]);
    // Consecutive checkpoints never contradict: each is consistent with the one before.
    for (let i = 1; i < signed.length; i++) {
      const [a, b] = [signed[i - 1], signed[i]] as [(typeof signed)[number], (typeof signed)[number]];
      expect(a.rootHash.equals(MTH(leaves.slice(0, a.treeSize)))).toBe(true);
      const proof = await checkpointer.getConsistencyProof({ oldSize: a.treeSize, newSize: b.treeSize });
      expect(proof.hashes.map((h) => h.toString("hex"))).toEqual(PROOF(a.treeSize, leaves.slice(0, b.treeSize)).map((h) => h.toString("hex")));
      expect(verifyConsistency(a.treeSize, b.treeSize, proof.hashes, a.rootHash, b.rootHash)).toBe(true);
    }
    const latest = await checkpointer.getCheckpoint({ treeSize: 0 });
    expect(latest.checkpoint?.treeSize).toBe(14);
    expect(latest.verifierKey).toBe(verifiers[0]?.key);
    for (let seq = 1; seq <= 14; seq++) {
      const p = await checkpointer.getInclusionProof({ sequence: seq, treeSize: 0 });
      expect(p.rootHash.equals(signed[2]?.rootHash as Buffer)).toBe(true);
      expect(verifyInclusion(p.leafHash, seq - 1, 14, p.hashes, p.rootHash)).toBe(true);
    }
    await expect(checkpointer.getInclusionProof({ sequence: 15, treeSize: 14 })).rejects.toMatchObject({ kind: "validation" });
  });

  it("refuses to sign a checkpoint that would contradict an earlier one", async () => {
    const target = await copy(original.map((m) => (m.seq === 3 ? edited(m, (b) => void (b.actor = "mallory")) : m)));
    const log = await createJetStreamEventLog(nc, { stream: target.stream, subjectRoot: target.root });
    const checkpointer = new Checkpointer({ log, signer: parseSignerKey(ledger.config.checkpointSigningKey ?? (await readSigner(ledger.dataDir))), origin: "test", intervalMs: 0 }).start();
    try {
      await expect(checkpointer.checkpoint()).rejects.toMatchObject({ kind: "illegal_state" });
      expect(await log.headSequence()).toBe(16);
    } finally {
      await checkpointer.stop();
    }
  });

  it("CLI: verify passes the real log and fails a tampered copy; prove and check-proof work offline", async () => {
    const key = verifiers[0]?.key as string;
    const ok = await cli(["audit", "verify", "--stream", stream, "--key", key]);
    expect(ok.stdout).toContain("verified 16 events, 3 checkpoints");
    expect(ok.code).toBe(0);

    const target = await copy(original.filter((m) => m.seq !== 8));
    const bad = await cli(["audit", "verify", "--stream", target.stream, "--key", key]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/history breaks at sequence 8: missing/);

    const dir = await mkdtemp(join(tmpdir(), "gl-proof-"));
    try {
      const proved = await cli(["audit", "prove", "9", "--stream", stream]);
      expect(proved.code).toBe(0);
      const file = join(dir, "proof.json");
      await writeFile(file, proved.stdout);
      const checked = await cli(["audit", "check-proof", file, "--key", key], false);
      expect(checked.stdout).toMatch(/^ok: message 9 is in the log/);
      expect(checked.code).toBe(0);

      const bundle = JSON.parse(proved.stdout) as { body: string };
      bundle.body = Buffer.from(Buffer.from(bundle.body, "base64").toString("utf8").replace("auditor-test", "auditor-tesT")).toString("base64");
      await writeFile(file, JSON.stringify(bundle));
      const rejected = await cli(["audit", "check-proof", file, "--key", key], false);
      expect(rejected.stdout).toMatch(/^invalid: the inclusion proof does not lead/);
      expect(rejected.code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  async function readSigner(dataDir: string): Promise<string> {
    const { readFile } = await import("node:fs/promises");
    return readFile(join(dataDir, "keys", "checkpoint.key"), "utf8");
  }

  function cli(args: string[], withNats = true): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((done) => {
      execFile(
        process.execPath,
        ["--import", "tsx", join(repoRoot, "scripts/cli.ts"), ...args],
        {
          cwd: repoRoot,
          env: { ...process.env, ...(withNats ? { NATS_URL: nats.url } : {}), GL_DATA_DIR: ledger.dataDir, GL_STREAM: stream },
          timeout: 30_000,
        },
        (error, stdout, stderr) => done({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }),
      );
    });
  }
});
