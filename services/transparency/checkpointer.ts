import type { Logger } from "pino";
import { mintEventId } from "../crypto/mint.js";
import { concurrencyConflict, illegalState, isDomainError, notFound, unavailable, validationError } from "../domain/shared/errors.js";
import { decodeEnvelope } from "../eventlog/codec.js";
import type { JetStreamEventLog } from "../eventlog/jetstream.js";
import { subjectFor } from "../eventlog/subjects.js";
import type { AggregateRef } from "../eventlog/types.js";
import type {
  GetCheckpointRequest,
  GetCheckpointResponse,
  GetConsistencyProofRequest,
  GetConsistencyProofResponse,
  GetInclusionProofRequest,
  GetInclusionProofResponse,
} from "../gen/grantledger/v1/audit_service.js";
import type { CheckpointQueries } from "../grpc/audit-service.js";
import { blockHashes } from "./blocks.js";
import { MerkleTree, verifyConsistency } from "./merkle.js";
import { formatCheckpointBody, parseCheckpointBody, signNote, type NoteSigner } from "./note.js";
import { readRaw } from "./raw-log.js";

/** The one aggregate instance checkpoints are appended to: subject `<root>.checkpoint.log`. */
export const CHECKPOINT_AGGREGATE: AggregateRef = { kind: "checkpoint", id: "log" };

/** A checkpoint as found in the log. */
export interface CheckpointRecord {
  /** Stream sequence of the checkpoint message. */
  readonly seq: number;
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Buffer;
  /** The C2SP signed note. */
  readonly note: string;
  /** Epoch ms the message was stored. */
  readonly storedAt: number;
  /** SHA-256 hex of the message body: the next checkpoint's `prev`. */
  readonly hash: string;
}

/** Options of {@link Checkpointer}. */
export interface CheckpointerOptions {
  readonly log: JetStreamEventLog;
  readonly signer: NoteSigner;
  /** The checkpoint origin line, e.g. `grant-ledger.example.com/LEDGER`. */
  readonly origin: string;
  /** Sign a checkpoint this often (ms); 0 signs only on demand ({@link Checkpointer.checkpoint}). */
  readonly intervalMs: number;
  readonly logger?: Logger;
  /** The actor recorded on checkpoint messages (default "checkpointer"). */
  readonly actor?: string;
  /** Longest a checkpoint or a query waits for the tree to catch up with the log head (default 15 s). */
  readonly catchUpTimeoutMs?: number;
}

/**
 * The checkpointer role. It follows the raw stream from sequence 1 into an in-memory Merkle tree
 * (leaf index = sequence − 1; a sequence gap stops it for good: the log lost a message), remembers
 * every checkpoint it sees, and signs a new one every `intervalMs` and on demand. A checkpoint is
 * appended with optimistic concurrency on the checkpoint subject and chained to the previous one,
 * so two checkpointers never both append against the same predecessor; before signing, the tree
 * must reproduce the previous checkpoint's root and prove consistency with it, so a checkpoint
 * never contradicts an earlier one. It also answers the AuditService checkpoint queries.
 */
export class Checkpointer implements CheckpointQueries {
  readonly tree = new MerkleTree();
  private readonly checkpoints: CheckpointRecord[] = [];
  private readonly stopping = new AbortController();
  private readonly waiters = new Set<() => void>();
  private failure: Error | undefined;
  private following: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly subject: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: CheckpointerOptions) {
    this.subject = subjectFor(CHECKPOINT_AGGREGATE, options.log.subjectRoot);
    this.timeoutMs = options.catchUpTimeoutMs ?? 15_000;
  }

  /** The verifier key of this checkpointer's signer (signed-note text form). */
  get verifierKey(): string {
    return this.options.signer.verifierKey;
  }

  /** Starts following the log and, when `intervalMs` > 0, the periodic checkpoints. */
  start(): this {
    this.following ??= this.follow();
    if (this.options.intervalMs > 0) this.schedule();
    return this;
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const wake of this.waiters) wake();
    await this.following;
    await this.queue.catch(() => undefined);
  }

  /** The latest checkpoint seen in the log. */
  latest(): CheckpointRecord | undefined {
    return this.checkpoints.at(-1);
  }

  /** Every checkpoint seen in the log, in order. */
  all(): readonly CheckpointRecord[] {
    return this.checkpoints;
  }

  /** Resolves once the tree holds at least `size` leaves; rejects after the timeout or on failure. */
  async waitForSize(size: number, timeoutMs = this.timeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.tree.size < size) {
      if (this.failure !== undefined) throw unavailable(`the checkpointer stopped: ${this.failure.message}`, { cause: this.failure });
      if (this.stopping.signal.aborted) throw unavailable("the checkpointer is stopping");
      const left = deadline - Date.now();
      if (left <= 0) throw unavailable(`the Merkle tree is at ${this.tree.size} of ${size} messages; retry`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(left, 250));
        this.waiters.add(wake);
      });
    }
  }

  /** Waits until the tree has every message the stream holds now. */
  async catchUp(): Promise<void> {
    await this.waitForSize(await this.options.log.headSequence());
  }

  /**
   * Signs and appends a checkpoint over the whole log as it is now, unless nothing but the latest
   * checkpoint itself was appended since it (then returns that one). Calls are serialized.
   */
  checkpoint(): Promise<CheckpointRecord> {
    const run = this.queue.then(() => this.checkpointOnce());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async checkpointOnce(): Promise<CheckpointRecord> {
    const { log, signer, origin } = this.options;
    for (let attempt = 0; attempt < 5; attempt++) {
      const head = await log.headSequence();
      await this.waitForSize(head);
      const last = this.latest();
      if (last !== undefined && last.seq >= head) return last;
      const size = head;
      if (last !== undefined) this.assertConsistentWith(last, size);
      const root = this.tree.root(size);
      const note = signNote(formatCheckpointBody(origin, size, root), signer);
      try {
        const result = await log.append({
          aggregate: CHECKPOINT_AGGREGATE,
          expectedVersion: last?.seq ?? 0,
          msgId: `checkpoint:${origin}:${size}`,
          meta: { eventId: mintEventId(), at: Date.now(), actor: this.options.actor ?? "checkpointer", requestId: `checkpoint-${size}` },
          prev: last?.hash ?? null,
          events: [
            {
              type: "checkpoint.signed",
              data: {
                origin,
                treeSize: size,
                rootHash: root.toString("base64"),
                lastLeafHash: size === 0 ? null : this.tree.leaf(size - 1).toString("hex"),
                note,
                blocks: blockHashes(this.tree, last?.treeSize ?? 0, size),
              },
            },
          ],
        });
        await this.waitForSize(result.seq);
        const written = this.checkpoints.find((c) => c.seq === result.seq);
        if (written === undefined) throw illegalState(`message ${result.seq} is not a checkpoint`);
        this.options.logger?.info({ seq: written.seq, treeSize: written.treeSize, duplicate: result.duplicate }, "checkpoint signed");
        return written;
      } catch (error) {
        // Another checkpointer appended first: catch up with it and decide again.
        if (!(isDomainError(error) && error.kind === "conflict")) throw error;
      }
    }
    throw concurrencyConflict("other checkpointers keep appending; retry");
  }

  /** Refuses to sign when the log as read now does not reproduce `previous` (or cannot extend it). */
  private assertConsistentWith(previous: CheckpointRecord, size: number): void {
    const oldRoot = this.tree.root(previous.treeSize);
    const proof = this.tree.consistencyProof(previous.treeSize, size);
    if (!oldRoot.equals(previous.rootHash) || !verifyConsistency(previous.treeSize, size, proof, previous.rootHash, this.tree.root(size))) {
      throw illegalState(
        `the log no longer matches checkpoint ${previous.seq} (size ${previous.treeSize}): refusing to sign a contradicting checkpoint`,
      );
    }
  }

  private schedule(): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.checkpoint().then(
        () => this.schedule(),
        (error: unknown) => {
          this.options.logger?.warn({ err: error }, "periodic checkpoint failed");
          this.schedule();
        },
      );
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async follow(): Promise<void> {
    const { log } = this.options;
    const signal = this.stopping.signal;
    while (!signal.aborted && this.failure === undefined) {
      try {
        for await (const m of readRaw(log.js, log.stream, this.tree.size + 1, { signal })) {
          const expected = this.tree.size + 1;
          if (m.seq !== expected) {
            // Leaves are indexed by sequence: a gap means the log lost messages. Never paper over it.
            throw illegalState(`stream ${log.stream} has no message ${expected} (next is ${m.seq}): the log has a gap`);
          }
          this.tree.appendData(m.body);
          if (m.subject === this.subject) this.record(m);
          for (const wake of this.waiters) wake();
        }
      } catch (error) {
        if (signal.aborted) return;
        if (isDomainError(error) && error.kind === "unavailable") {
          this.options.logger?.warn({ err: error }, "checkpointer lost the log; retrying");
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        this.failure = error instanceof Error ? error : new Error(String(error));
        this.options.logger?.error({ err: error }, "checkpointer stopped");
        for (const wake of this.waiters) wake();
        return;
      }
    }
  }

  private record(m: { seq: number; subject: string; body: Uint8Array; storedAt: number }): void {
    const envelope = decodeEnvelope(m, this.options.log.subjectRoot);
    for (const event of envelope.events) {
      if (event.type !== "checkpoint.signed") continue;
      const body = parseCheckpointBody(event.data.note.slice(0, event.data.note.lastIndexOf("\n\n") + 1));
      this.checkpoints.push({
        seq: m.seq,
        origin: body.origin,
        treeSize: body.treeSize,
        rootHash: body.rootHash,
        note: event.data.note,
        storedAt: m.storedAt,
        hash: envelope.hash,
      });
    }
  }

  // ---- queries -------------------------------------------------------------------------------

  private latestOrThrow(): CheckpointRecord {
    const last = this.latest();
    if (last === undefined) throw notFound("no checkpoint has been signed yet");
    return last;
  }

  private async ensureSize(size: number, field: string): Promise<void> {
    if (!Number.isSafeInteger(size) || size < 0) throw validationError(`${field} must be a non-negative integer`, { field });
    if (size <= this.tree.size) return;
    const head = await this.options.log.headSequence();
    if (size > head) throw validationError(`${field} ${size} is beyond the log head ${head}`, { field });
    await this.waitForSize(size, 2_000);
  }

  async getCheckpoint(request: GetCheckpointRequest): Promise<GetCheckpointResponse> {
    const wanted = request.treeSize;
    const found = wanted === 0 ? this.latestOrThrow() : this.checkpoints.find((c) => c.treeSize >= wanted);
    if (found === undefined) throw notFound(`no checkpoint covers tree size ${wanted} yet`);
    return {
      checkpoint: {
        origin: found.origin,
        treeSize: found.treeSize,
        rootHash: Buffer.from(found.rootHash),
        signedNote: found.note,
        sequence: found.seq,
        time: new Date(found.storedAt),
      },
      verifierKey: this.verifierKey,
    };
  }

  async getInclusionProof(request: GetInclusionProofRequest): Promise<GetInclusionProofResponse> {
    const treeSize = request.treeSize === 0 ? this.latestOrThrow().treeSize : request.treeSize;
    await this.ensureSize(treeSize, "tree_size");
    if (!Number.isSafeInteger(request.sequence) || request.sequence < 1 || request.sequence > treeSize) {
      throw validationError(`sequence must be within 1..${treeSize} (the tree size)`, { field: "sequence" });
    }
    const index = request.sequence - 1;
    return {
      leafIndex: index,
      treeSize,
      leafHash: this.tree.leaf(index),
      hashes: this.tree.inclusionProof(index, treeSize),
      rootHash: this.tree.root(treeSize),
    };
  }

  async getConsistencyProof(request: GetConsistencyProofRequest): Promise<GetConsistencyProofResponse> {
    const newSize = request.newSize === 0 ? this.latestOrThrow().treeSize : request.newSize;
    await this.ensureSize(newSize, "new_size");
    if (!Number.isSafeInteger(request.oldSize) || request.oldSize < 1 || request.oldSize > newSize) {
      throw validationError(`old_size must be within 1..${newSize} (new_size)`, { field: "old_size" });
    }
    return {
      oldSize: request.oldSize,
      newSize,
      hashes: this.tree.consistencyProof(request.oldSize, newSize),
      oldRoot: this.tree.root(request.oldSize),
      newRoot: this.tree.root(newSize),
    };
  }
}
