// Model access policy per team or key: which models may be used (others get 403 naming the
// allowed ones) and which are served by another model (pinning background requests to a
// cheaper model, or downgrading a family once a budget passes a share of its limit).
import type { Config, PolicyRule } from '../config/schema.js';
import type { ModelCatalog } from '../routing/catalog.js';
import type { KeyRecord } from '../store/types.js';

export type PolicyDecision = { ok: true; model: string; rewrittenFrom: string | null } | { ok: false; allowed: string[] };

export class ModelPolicy {
  constructor(
    private readonly policy: Config['policy'],
    private readonly catalog: ModelCatalog,
  ) {}

  ruleFor(key: Pick<KeyRecord, 'id' | 'team'>): PolicyRule | undefined {
    return this.policy.keys?.[key.id] ?? (key.team ? this.policy.teams?.[key.team] : undefined) ?? this.policy.default;
  }

  /** Whether `pattern` (a family or any id form) names the requested model. */
  private matches(pattern: string, requested: string): boolean {
    const p = pattern.toLowerCase();
    const m = this.catalog.resolve(requested);
    if (m && (m.family === p || this.catalog.resolve(p)?.id === m.id)) return true;
    return requested.toLowerCase() === p;
  }

  decide(key: Pick<KeyRecord, 'id' | 'team'>, requested: string, utilization: () => number): PolicyDecision {
    const rule = this.ruleFor(key);
    if (!rule) return { ok: true, model: requested, rewrittenFrom: null };
    let model = requested;
    let from: string | null = null;
    for (const r of rule.rewrite ?? []) {
      if (!this.matches(r.from, requested)) continue;
      if (r.when_budget_pct !== undefined && utilization() * 100 < r.when_budget_pct) continue;
      model = r.to;
      from = requested;
      break;
    }
    if (rule.allow && !rule.allow.some((a) => this.matches(a, model))) return { ok: false, allowed: rule.allow };
    return { ok: true, model, rewrittenFrom: from };
  }
}
