import { hash } from "node:crypto";
import { decodeEnvelope, type StoredMessage } from "../eventlog/codec.js";
import { locateChange, type BlockHashes } from "./blocks.js";
import { HashIndex } from "./hash-index.js";
import { HashArray, leafHash, MerkleTree } from "./merkle.js";
import { NoteError, openCheckpoint, type NoteVerifier } from "./note.js";

/** How history broke. */
export type BreakKind = "altered" | "missing" | "reordered" | "duplicated" | "bad-signature" | "broken-chain";

/** One place where history breaks. `seq` is the stream sequence of the log being verified. */
export interface Break {
  readonly seq: number;
  readonly kind: BreakKind;
  readonly detail: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  /** Messages read (each message is one command's events, or one checkpoint). */
  readonly messages: number;
  readonly checkpoints: number;
  /** Tree size of the last checkpoint (messages after it are chained but not yet signed). */
  readonly lastCheckpointSize: number;
  /** Every break found, first (lowest sequence) first; `breaks[0]` is where history breaks. */
  readonly breaks: readonly Break[];
}

export interface VerifyOptions {
  readonly subjectRoot: string;
  /** Keys whose signatures make a checkpoint trusted. */
  readonly verifiers: readonly NoteVerifier[];
}

// At one sequence, the more specific finding wins.
const PRIORITY: Readonly<Record<BreakKind, number>> = {
  "bad-signature": 0,
  duplicated: 1,
  reordered: 2,
  missing: 3,
  altered: 4,
  "broken-chain": 5,
};

interface Pending {
  readonly seq: number;
  readonly aggregate: string;
  /** The aggregate's previous message as seen, if any. */
  readonly lastSeq: number | undefined;
  readonly prev: string;
  resolved: boolean;
}

interface Segment {
  /** Sequence of the checkpoint message that closes it. */
  readonly checkpointSeq: number;
  /** Messages it should hold minus messages found (from the `lastLeafHash` hint); undefined: unknown. */
  readonly missing: number | undefined;
}

/**
 * Verifies a whole log, message by message in stream order: dense sequences; every message a
 * well-formed envelope; no message repeated; every per-aggregate hash chain (`prev` = SHA-256 of the
 * aggregate's previous message body); every checkpoint signed by a trusted key, its fields agreeing
 * with its note, and its root equal to the RFC 9162 root recomputed over messages 1..treeSize (so
 * consecutive checkpoints are consistent by construction).
 *
 * Where the chain alone cannot say what happened (a `prev` that matches no message), the next
 * checkpoint decides: when its last covered message sits where it should, the count is intact and
 * the aggregate's previous message was altered; when it sits later, messages are missing.
 */
export class LogVerifier {
  private readonly tree = new MerkleTree();
  // Per message, compactly (a 10M log must fit in memory): the sequence of each leaf, every
  // distinct body's SHA-256 and sequence, and indexes over both hashes (duplicates, chain targets).
  private readonly leafSeqs: number[] = [];
  private readonly leafIndex = new HashIndex((position) => this.tree.leaf(position - 1));
  private readonly shas = new HashArray();
  private readonly shaSeqs: number[] = [];
  private readonly shaIndex = new HashIndex((position) => this.shas.at(position - 1));
  /** Each aggregate's name once, however many messages point at it. */
  private readonly names = new Map<string, string>();
  private readonly aggregateOf: (string | undefined)[] = [];
  private readonly lastOf = new Map<string, { seq: number; sha: string }>();
  private readonly pending: Pending[] = [];
  private readonly pendingByPrev = new Map<string, Pending>();
  private readonly segments: Segment[] = [];
  private readonly found: Break[] = [];
  private expectedSeq = 1;
  private messages = 0;
  private checkpoints = 0;
  private lastCheckpointSize = 0;
  /** Leaves 0..vouched-1 are as a trusted checkpoint signed them (its root matched). */
  private vouched = 0;

  constructor(private readonly options: VerifyOptions) {}

  add(m: StoredMessage): void {
    const { seq } = m;
    if (seq !== this.expectedSeq) {
      this.report(this.expectedSeq, "missing", `stream sequences ${this.expectedSeq}..${seq - 1} are missing from the stream`);
    }
    this.expectedSeq = seq + 1;
    this.messages++;
    const leaf = leafHash(m.body);
    this.tree.append(leaf);
    this.leafSeqs.push(seq);
    const earlier = this.leafIndex.get(leaf);
    if (earlier !== undefined) {
      this.report(seq, "duplicated", `message ${seq} repeats message ${this.leafSeqs[earlier - 1]} byte for byte`);
      return;
    }
    this.leafIndex.add(leaf, this.tree.size);
    const digest = hash("sha256", m.body, "buffer");
    this.shas.push(digest);
    this.shaSeqs.push(seq);
    this.shaIndex.add(digest, this.shas.length);
    const sha = digest.toString("hex");

    let envelope;
    try {
      envelope = decodeEnvelope(m, this.options.subjectRoot);
    } catch (error) {
      this.report(seq, "altered", `message ${seq} is not a valid envelope (${error instanceof Error ? error.message : String(error)})`);
      return;
    }
    const name = `${envelope.aggregate.kind} ${envelope.aggregate.id}`;
    let aggregate = this.names.get(name);
    if (aggregate === undefined) this.names.set(name, (aggregate = name));
    this.aggregateOf[seq] = aggregate;
    this.checkChain(seq, aggregate, envelope.prev, sha);
    for (const event of envelope.events) {
      if (event.type === "checkpoint.signed") this.checkCheckpoint(seq, event.data);
    }
  }

  private checkChain(seq: number, aggregate: string, prev: string | null, sha: string): void {
    // A message whose predecessor was waited for shows up: the waiting one came too early.
    const waiting = this.pendingByPrev.size === 0 ? undefined : this.pendingByPrev.get(sha);
    if (waiting !== undefined && waiting.aggregate === aggregate) {
      waiting.resolved = true;
      this.pendingByPrev.delete(sha);
      this.report(waiting.seq, "reordered", `message ${waiting.seq} of ${aggregate} comes before message ${seq}, which precedes it in its chain`);
    }
    const last = this.lastOf.get(aggregate);
    this.lastOf.set(aggregate, { seq, sha });
    if (prev === (last?.sha ?? null)) return;
    if (prev === null) {
      this.report(seq, "reordered", `message ${seq} claims to be the first of ${aggregate}, but message ${last?.seq} of it came earlier`);
      return;
    }
    const found = this.shaIndex.get(Buffer.from(prev, "hex"));
    const target = found === undefined ? undefined : this.shaSeqs[found - 1];
    if (target !== undefined) {
      if (this.aggregateOf[target] !== aggregate) {
        this.report(seq, "altered", `message ${seq} of ${aggregate} chains to message ${target} of another aggregate`);
      } else {
        this.report(seq, "reordered", `message ${seq} of ${aggregate} follows message ${target} in its chain, but message ${last?.seq} came in between`);
      }
      return;
    }
    const pending: Pending = { seq, aggregate, lastSeq: last?.seq, prev, resolved: false };
    this.pending.push(pending);
    this.pendingByPrev.set(prev, pending);
  }

  private checkCheckpoint(
    seq: number,
    data: { origin: string; treeSize: number; rootHash: string; lastLeafHash: string | null; note: string; blocks?: BlockHashes | undefined },
  ): void {
    this.checkpoints++;
    let body;
    try {
      body = openCheckpoint(data.note, this.options.verifiers);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      const kind: BreakKind = error.reason === "malformed" ? "altered" : "bad-signature";
      this.report(seq, kind, `checkpoint ${seq}: ${error.reason === "unknown-key" ? "not signed by a trusted key" : error.message}`);
      return;
    }
    const size = body.treeSize;
    if (data.origin !== body.origin || data.treeSize !== size || data.rootHash !== body.rootHash.toString("base64")) {
      this.report(seq, "altered", `checkpoint ${seq}: its fields disagree with its signed note`);
    }
    if (size < this.lastCheckpointSize) {
      this.report(seq, "altered", `checkpoint ${seq} covers ${size} messages, fewer than the ${this.lastCheckpointSize} of an earlier one`);
    }
    const from = this.lastCheckpointSize + 1;
    this.lastCheckpointSize = Math.max(this.lastCheckpointSize, size);
    if (size >= seq) {
      this.report(seq, "missing", `checkpoint ${seq} covers ${size} messages, so at least ${size - seq + 1} message(s) before it are missing`);
      this.segments.push({ checkpointSeq: seq, missing: size - seq + 1 });
      return;
    }
    if (this.tree.root(size).equals(body.rootHash)) {
      this.segments.push({ checkpointSeq: seq, missing: 0 });
      this.vouched = Math.max(this.vouched, size);
      return;
    }
    const position = data.lastLeafHash === null ? undefined : this.leafIndex.get(Buffer.from(data.lastLeafHash, "hex"));
    const at = data.lastLeafHash === null ? 0 : position === undefined ? undefined : this.leafSeqs[position - 1];
    // Message `size` of the signed log now sits at `at`: earlier means messages went missing.
    const missing = at === undefined ? undefined : size - at;
    this.segments.push({ checkpointSeq: seq, missing });
    const range = `messages ${from}..${size}`;
    if (missing === undefined) this.report(seq, "altered", `checkpoint ${seq}: root mismatch; message ${size}, the last it covers, was altered or is gone`);
    else if (missing > 0) this.report(seq, "missing", `checkpoint ${seq}: root mismatch; ${missing} message(s) of ${range} are missing`);
    else if (missing < 0) this.report(seq, "duplicated", `checkpoint ${seq}: root mismatch; ${-missing} message(s) were added to ${range}`);
    else this.reportMoved(seq, range, data.blocks, size, body.rootHash);
  }

  /** A root mismatch with every message counted: the block hashes, when usable, say which moved. */
  private reportMoved(seq: number, range: string, blocks: BlockHashes | undefined, size: number, root: Buffer): void {
    const located = blocks === undefined ? undefined : locateChange(this.tree, blocks, this.vouched, size, root);
    const seqOf = (leaf: number): number => this.leafSeqs[leaf] ?? leaf + 1;
    if (located?.kind === "swapped") {
      const [a, b] = [seqOf(located.a), seqOf(located.b)];
      // Every later checkpoint finds the same swap again.
      if (this.found.some((f) => f.seq === a && f.kind === "reordered")) return;
      this.report(a, "reordered", `messages ${a} and ${b} are in each other's place: swapped back, they give the root checkpoint ${seq} signed`);
    } else if (located?.kind === "changed") {
      // Reported at the checkpoint: a block is a range, and the break may lie anywhere in it.
      const [first, last] = [seqOf(located.first), seqOf(located.last)];
      this.report(seq, "altered", `checkpoint ${seq}: root mismatch; its block hashes place the change in messages ${first}..${last}`);
    } else {
      this.report(seq, "altered", `checkpoint ${seq}: root mismatch; a message of ${range} was altered or moved`);
    }
  }

  private report(seq: number, kind: BreakKind, detail: string): void {
    this.found.push({ seq, kind, detail });
  }

  /** Classifies what is still open and returns the report. */
  finish(): VerifyReport {
    for (const p of this.pending) {
      if (p.resolved) continue;
      const after = p.lastSeq === undefined ? "" : ` (after message ${p.lastSeq})`;
      const segment = this.segments.find((s) => s.checkpointSeq > p.seq);
      if (p.lastSeq === undefined) {
        this.report(p.seq, "missing", `message ${p.seq} of ${p.aggregate} has a predecessor, but none of its earlier messages is in the log`);
      } else if (segment?.missing === 0) {
        this.report(p.lastSeq, "altered", `message ${p.lastSeq} of ${p.aggregate} was altered: its hash is not the prev of message ${p.seq}, the next of its aggregate`);
      } else if (segment?.missing !== undefined && segment.missing > 0) {
        this.report(p.seq, "missing", `a message of ${p.aggregate} is missing before message ${p.seq}${after}`);
      } else {
        this.report(p.seq, "broken-chain", `the prev of message ${p.seq} matches no message: a message of ${p.aggregate} before it is missing, or message ${p.lastSeq} was altered`);
      }
    }
    const breaks = [...this.found].sort((a, b) => a.seq - b.seq || PRIORITY[a.kind] - PRIORITY[b.kind]);
    return {
      ok: breaks.length === 0,
      messages: this.messages,
      checkpoints: this.checkpoints,
      lastCheckpointSize: this.lastCheckpointSize,
      breaks,
    };
  }
}

/** Verifies every message of `messages` (a whole log from sequence 1). */
export async function verifyLog(messages: AsyncIterable<StoredMessage> | Iterable<StoredMessage>, options: VerifyOptions): Promise<VerifyReport> {
  const verifier = new LogVerifier(options);
  for await (const m of messages) verifier.add(m);
  return verifier.finish();
}

/** One line for humans: "verified N events, M checkpoints" or where and how history breaks. */
export function describeReport(report: VerifyReport): string {
  const first = report.breaks[0];
  if (first === undefined) {
    const unsigned = report.messages - report.lastCheckpointSize;
    const tail = unsigned > 0 && report.checkpoints > 0 ? ` (${unsigned} after the last checkpoint are chained, not yet signed)` : "";
    return `verified ${report.messages} events, ${report.checkpoints} checkpoints${tail}`;
  }
  return `history breaks at sequence ${first.seq}: ${first.kind}: ${first.detail}`;
}
