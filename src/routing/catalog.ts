// The model catalog (data/models.json): every Claude model and its id on each route. Any id a
// client may send (first-party, dated or undated, alias, Bedrock profile or base id, Vertex id
// with @date, Mantle id, a "[1m]" suffix) resolves to one catalog model.
import { readFileSync } from 'node:fs';
import { dataPath } from '../util/paths.js';

export type RouteIdKind = 'first_party' | 'bedrock' | 'vertex' | 'mantle' | 'foundry';

export interface CatalogModel {
  id: string;
  family: string;
  display_name: string;
  ids: Record<RouteIdKind, string | null>;
  context_window: number;
  max_context_window: number;
  supports_1m: boolean;
  vertex_region_env_var: string | null;
  max_output_tokens: { default: number; upper: number } | null;
  fallback: string | null;
}

interface CatalogFile {
  source: string;
  date: string;
  aliases: Record<string, { default: string; per_provider?: Record<string, string> }>;
  models: CatalogModel[];
}

/** Geography prefixes of Bedrock cross-region inference profiles. */
export const BEDROCK_GEO_PREFIXES = ['us', 'eu', 'apac', 'jp', 'au', 'ca', 'us-gov', 'global'] as const;

export class ModelCatalog {
  readonly models: CatalogModel[];
  readonly aliases: CatalogFile['aliases'];
  readonly source: string;
  readonly date: string;
  private readonly byId = new Map<string, CatalogModel>();

  constructor(file: CatalogFile) {
    this.models = file.models;
    this.aliases = file.aliases;
    this.source = file.source;
    this.date = file.date;
    for (const m of file.models) {
      this.add(m.id, m);
      for (const v of Object.values(m.ids)) {
        if (!v) continue;
        this.add(v, m);
        // Undated forms of dated ids (claude-haiku-4-5-20251001 → claude-haiku-4-5) resolve too.
        const undated = v.replace(/-\d{8}$/, '');
        if (undated !== v) this.add(undated, m);
      }
      const br = m.ids.bedrock;
      if (br) for (const g of BEDROCK_GEO_PREFIXES) this.add(`${g}.${br}`, m);
    }
  }

  private add(id: string, m: CatalogModel): void {
    // First writer wins: a model's own id outranks another model's derived form.
    if (!this.byId.has(id.toLowerCase())) this.byId.set(id.toLowerCase(), m);
  }

  /** Resolves any client-facing id to a catalog model, or undefined for an unknown id. */
  resolve(id: string): CatalogModel | undefined {
    let s = id.trim().toLowerCase();
    if (s.endsWith('[1m]')) s = s.slice(0, -4);
    const direct = this.byId.get(s);
    if (direct) return direct;
    const alias = this.aliases[s];
    if (alias) return this.byId.get(alias.default.toLowerCase());
    // Vertex ids without the @date, and Bedrock ids without the version suffix.
    const noVersion = s.replace(/-v\d+(:\d+)?$/, '');
    return this.byId.get(noVersion);
  }
}

let shipped: ModelCatalog | undefined;

export function loadCatalog(file?: string): ModelCatalog {
  if (!file && shipped) return shipped;
  const cat = new ModelCatalog(JSON.parse(readFileSync(file ?? dataPath('models.json'), 'utf8')) as CatalogFile);
  if (!file) shipped = cat;
  return cat;
}
