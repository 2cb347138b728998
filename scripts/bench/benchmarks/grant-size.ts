import { clientDecider, fold, grantDecider, type GrantEvent, type GrantState } from "../../../services/domain/index.js";
import { spread } from "../lib/stats.js";
import type { Benchmark, BenchOptions, BenchResult } from "../lib/types.js";

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;
const SIZES = [100, 10_000, 100_000];
const SMOKE_SIZES = [10, 100];
/** IssueTokens decisions measured per run at each size. */
const CALLS = 2_000;

const client = fold(clientDecider, [
  {
    type: "client.registered",
    data: {
      clientId: "cl_bench",
      ownerAccount: "acct",
      name: "bench",
      redirectUris: ["https://app.example/cb"],
      allowedScopes: ["zone:read"],
      clientType: "public",
      secretHash: null,
    },
  },
]);

const created: GrantEvent = {
  type: "grant.created",
  data: { grantId: "gr_bench", subject: "user", clientId: "cl_bench", scopes: ["zone:read"], resources: [], expiresAt: null, createdAt: T0 },
};

/** What one IssueTokens appends: an access + refresh pair, as the bench of the whole path issues. */
const issuedEvent = (n: number): GrantEvent => ({
  type: "token.issued",
  data: {
    grantId: "gr_bench",
    tokens: [
      { tokenId: `at_${n}`, kind: "access_token", hash: `k1:a${n}`, familyId: `rt_${n}`, scopes: ["zone:read"], issuedAt: T0 + n, expiresAt: T0 + n + HOUR },
      { tokenId: `rt_${n}`, kind: "refresh_token", hash: `k1:r${n}`, familyId: `rt_${n}`, scopes: ["zone:read"], issuedAt: T0 + n, expiresAt: T0 + n + 720 * HOUR },
    ],
  },
});

const cpuMicros = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** CPU µs per IssueTokens decide + evolve (the write path's domain work) under a grant holding `state`'s tokens. */
function issueCpuPerCall(state: GrantState, first: number, calls: number): number {
  let s = state;
  const started = cpuMicros();
  for (let i = 0; i < calls; i++) {
    const n = first + i;
    const events = grantDecider.decide(
      {
        type: "IssueTokens",
        now: T0 + n,
        client,
        subjectRevokedAt: null,
        scopes: [],
        access: { tokenId: `at_${n}`, hash: `k1:a${n}`, ttlMs: HOUR },
        refresh: { tokenId: `rt_${n}`, hash: `k1:r${n}`, ttlMs: 720 * HOUR },
      },
      s,
    );
    for (const event of events) s = grantDecider.evolve(s, event);
  }
  return (cpuMicros() - started) / calls;
}

/**
 * A grant keeps every token issued under it (the client-credentials grant of a busy client holds
 * one per call), and the write path folds one event into it per issue. This measures, in-process and
 * without I/O, the CPU of one IssueTokens decision + fold under grants of growing size, and of a
 * cold load (folding the grant's whole history): both must stay flat per call / per event as the
 * grant grows, not grow with it (they did while `evolve` copied the token map on every event).
 */
export const grantSize: Benchmark = {
  name: "grant-size",
  title: "IssueTokens decide + fold under a grant holding many tokens (in-process, no I/O)",
  async run(options: BenchOptions): Promise<BenchResult> {
    const sizes = options.smoke ? SMOKE_SIZES : options.size === undefined ? SIZES : [SIZES[0] as number, options.size];
    const calls = options.smoke ? 20 : CALLS;
    // Warm-up: the first pass through decide and evolve runs unoptimized code.
    issueCpuPerCall(fold(grantDecider, [created]), 0, calls);
    const issue = new Map<number, number[]>();
    const load = new Map<number, number[]>();
    for (let run = 0; run < options.runs; run++) {
      for (const size of sizes) {
        const history = [created, ...Array.from({ length: size / 2 }, (_, i) => issuedEvent(i))];
        const started = cpuMicros();
        const state = fold(grantDecider, history);
        load.set(size, [...(load.get(size) ?? []), (cpuMicros() - started) / history.length]);
        issue.set(size, [...(issue.get(size) ?? []), issueCpuPerCall(state, size, calls)]);
        options.log(`  run ${run + 1}/${options.runs} ${size} tokens: issue ${issue.get(size)?.at(-1)?.toFixed(2)} µs/call, load ${load.get(size)?.at(-1)?.toFixed(2)} µs/event`);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const label = (size: number): string => `grant with ${size.toLocaleString("en-US")} tokens`;
    const sides = sizes.map((size) => ({
      label: label(size),
      metrics: { "IssueTokens decide + fold CPU/call (µs)": spread(issue.get(size) ?? []), "cold load CPU/event (µs)": spread(load.get(size) ?? []) },
    }));
    const smallest = sizes[0] as number;
    const largest = sizes.at(-1) as number;
    const ratio = (m: Map<number, number[]>): number => spread(m.get(largest) ?? []).median / spread(m.get(smallest) ?? []).median;
    return {
      name: "grant-size",
      title: this.title,
      date: new Date().toISOString(),
      // A fixed number of calls, not a timed window: no duration to report.
      options: { runs: options.runs, durationS: 0, warmupS: 0, smoke: options.smoke },
      config: { "tokens per grant": sizes.map((s) => s.toLocaleString("en-US")).join(" / "), "calls per run": calls },
      sides,
      ratios: [
        { name: `IssueTokens CPU/call, ${largest.toLocaleString("en-US")} ÷ ${smallest.toLocaleString("en-US")} tokens`, value: ratio(issue) },
        { name: `cold load CPU/event, ${largest.toLocaleString("en-US")} ÷ ${smallest.toLocaleString("en-US")} tokens`, value: ratio(load) },
      ],
      notes: [
        "Runs in the bench process itself: only the domain's decide and evolve, no NATS, gRPC or crypto. Sizes run in order within each run; --size N replaces the largest size.",
      ],
      raw: { issue: Object.fromEntries(issue), load: Object.fromEntries(load) },
    };
  },
};
