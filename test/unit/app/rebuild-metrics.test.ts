import { describe, expect, it } from "vitest";
import { collectLedgerMetrics } from "../../../services/app/metrics.js";
import { LedgerMetrics } from "../../../services/metrics/index.js";
import type { EventLog } from "../../../services/eventlog/types.js";

describe("rebuild metrics", () => {
  it("export the active generation and a rebuild's progress, zero once it ends", async () => {
    const metrics = new LedgerMetrics();
    let rebuilding: { appliedSeq: number; head: number; eventsPerSecond: number } | undefined = { appliedSeq: 250, head: 1000, eventsPerSecond: 4200 };
    const active = { generation: 3 };
    const log = { headSequence: () => Promise.resolve(1000), get: () => Promise.resolve(undefined) } as unknown as EventLog;
    collectLedgerMetrics(metrics, {
      log,
      projections: [{ name: "tokens", file: "/nonexistent/tokens.v2.g3.db", appliedSeq: () => 1000, active, rebuilding: () => rebuilding }],
    });
    const during = await metrics.registry.render();
    expect(during).toContain('grantledger_projection_generation{projection="tokens"} 3');
    expect(during).toContain('grantledger_projection_rebuild_progress_ratio{projection="tokens"} 0.25');
    expect(during).toContain('grantledger_projection_rebuild_applied_sequence{projection="tokens"} 250');
    expect(during).toContain('grantledger_projection_rebuild_events_per_second{projection="tokens"} 4200');
    rebuilding = undefined;
    active.generation = 4;
    const after = await metrics.registry.render();
    expect(after).toContain('grantledger_projection_generation{projection="tokens"} 4');
    expect(after).toContain('grantledger_projection_rebuild_progress_ratio{projection="tokens"} 0');
  });
});
