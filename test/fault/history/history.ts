/**
 * The operation history the fault-test clients record (one JSON object per line), in the spirit of
 * Jepsen: every command is recorded once with its final outcome, every introspection with what it
 * asked and what it got. No plaintext token ever goes in: tokens are named by their grant and the
 * sequence that issued them.
 */
import { appendFileSync, readFileSync } from "node:fs";

/** ok: acknowledged with a sequence. fail: a definite rejection. unknown: retries ran out on UNAVAILABLE/DEADLINE. */
export type Outcome = "ok" | "fail" | "unknown";

export type CommandName = "RegisterClient" | "CreateGrant" | "IssueTokens" | "RefreshTokens" | "RevokeGrant";

export interface CommandOp {
  readonly kind: "command";
  readonly worker: number;
  readonly command: CommandName;
  readonly requestId: string;
  readonly grantId?: string;
  readonly outcome: Outcome;
  readonly seq?: number;
  /** gRPC status name of the last failure (fail / unknown), and its details. */
  readonly code?: string;
  readonly detail?: string;
  readonly tries: number;
  readonly invokedAt: number;
  readonly completedAt: number;
}

export interface IntrospectOp {
  readonly kind: "introspect";
  readonly worker: number;
  /** Index of the replica (ledger process) that answered. */
  readonly replica: number;
  readonly grantId: string;
  /** Sequence that issued the token asked about. */
  readonly tokenSeq: number;
  readonly minSequence?: number;
  readonly outcome: Outcome;
  readonly active?: boolean;
  readonly code?: string;
  readonly invokedAt: number;
  readonly completedAt: number;
}

/** From a revocation's acknowledgement to the last `active=true` a replica gave without min_sequence. */
export interface WindowOp {
  readonly kind: "window";
  readonly worker: number;
  readonly replica: number;
  readonly grantId: string;
  readonly revokeSeq: number;
  readonly ackAt: number;
  /** ms from the ack to the invocation of the last introspection that still said active (0: none did). */
  readonly ms: number;
  /** False when the replica still said active when polling gave up. */
  readonly settled: boolean;
}

/** A fault the orchestrator injected, for the report. */
export interface FaultOp {
  readonly kind: "fault";
  readonly fault: string;
  readonly target: string;
  readonly at: number;
  readonly healedAt: number;
}

export type Op = CommandOp | IntrospectOp | WindowOp | FaultOp;

export class HistoryWriter {
  constructor(private readonly file: string) {}
  record(op: Op): void {
    appendFileSync(this.file, `${JSON.stringify(op)}\n`);
  }
}

export function readHistory(files: readonly string[]): Op[] {
  const ops: Op[] = [];
  for (const file of files) {
    for (const line of readFileSync(file, "utf8").split("\n")) if (line.trim() !== "") ops.push(JSON.parse(line) as Op);
  }
  return ops;
}
