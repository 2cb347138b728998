import { readFileSync } from "node:fs";
import { z } from "zod";
import { normalizePermission, permits } from "./methods.js";
import type { Rate } from "./rate-limit.js";

/** A caller identity: a certificate's CN (or SAN), or the caller an API key was created for. */
export const CALLER_IDENTITY = /^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,254}$/;

const identity = z.string().regex(CALLER_IDENTITY, "a caller identity: letters, digits and ._:@/+=- (at most 255)");
const roleName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "a role name: letters, digits, _ and -");
const rate = z
  .object({
    perSecond: z.number().min(0, "perSecond must be ≥ 0 (0: unlimited)").max(1_000_000),
    burst: z.number().int().min(1).max(10_000_000),
  })
  .strict();

const permission = z.string().transform((value, ctx) => {
  const normalized = normalizePermission(value);
  if (normalized === undefined) {
    ctx.addIssue({ code: "custom", message: `"${value}" names no RPC: use *, Service/* or Service/Method (e.g. IntrospectionService/Introspect)` });
    return z.NEVER;
  }
  return normalized;
});

/**
 * The authorization policy file: roles are lists of RPCs, callers (by identity) hold roles.
 * Anything not granted is denied (PERMISSION_DENIED). A caller may be restricted to tokens covering
 * some resources (Introspect answers every other token like an unknown one) and may get its own
 * rate limits instead of the configured defaults.
 */
export const policySchema = z
  .object({
    roles: z.record(roleName, z.array(permission).min(1, "a role grants at least one RPC")),
    callers: z.record(
      identity,
      z
        .object({
          roles: z.array(roleName).min(1, "a caller holds at least one role"),
          /** Introspect reveals only tokens whose resources include one of these (`prefix*` matches a prefix). */
          resources: z.array(z.string().min(1).max(256)).max(10_000).optional(),
          rateLimits: z.object({ introspect: rate.optional(), secretChecks: rate.optional() }).strict().optional(),
        })
        .strict(),
    ),
  })
  .strict()
  .superRefine((policy, ctx) => {
    for (const [caller, entry] of Object.entries(policy.callers)) {
      entry.roles.forEach((role, i) => {
        if (policy.roles[role] === undefined) {
          ctx.addIssue({ code: "custom", path: ["callers", caller, "roles", i], message: `unknown role "${role}"` });
        }
      });
    }
  });

export type PolicyDocument = z.infer<typeof policySchema>;

/** What the policy says about one caller. */
export interface CallerGrant {
  readonly methods: readonly string[];
  readonly resources: readonly string[] | undefined;
  readonly rateLimits: { readonly introspect?: Rate; readonly secretChecks?: Rate };
}

/** A validated policy, ready for per-call decisions. */
export class Policy {
  readonly #callers = new Map<string, CallerGrant>();

  constructor(document: PolicyDocument) {
    for (const [caller, entry] of Object.entries(document.callers)) {
      this.#callers.set(caller, {
        methods: entry.roles.flatMap((role) => document.roles[role] ?? []),
        resources: entry.resources,
        rateLimits: entry.rateLimits ?? {},
      });
    }
  }

  /** Parses and validates a policy; throws an error naming each bad entry. */
  static parse(input: unknown, source = "policy"): Policy {
    const parsed = policySchema.safeParse(input);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((issue) => `  ${issue.path.map(String).join(".") || "(root)"}: ${issue.message}`);
      throw new Error(`invalid ${source}:\n${lines.join("\n")}`);
    }
    return new Policy(parsed.data);
  }

  static load(file: string): Policy {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (error) {
      throw new Error(`cannot read policy file ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    return Policy.parse(json, `policy file ${file}`);
  }

  caller(identity: string): CallerGrant | undefined {
    return this.#callers.get(identity);
  }

  /** Default deny: true only when one of the caller's roles grants the qualified method. */
  allows(identity: string, method: string): boolean {
    return this.#callers.get(identity)?.methods.some((p) => permits(p, method)) ?? false;
  }
}

/** Whether a caller restricted to `allowed` may see a token covering `resources`. */
export const servesAny = (allowed: readonly string[], resources: readonly string[]): boolean =>
  resources.some((resource) =>
    allowed.some((a) => (a.endsWith("*") ? resource.startsWith(a.slice(0, -1)) : a === resource)),
  );
