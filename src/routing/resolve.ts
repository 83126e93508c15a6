// Maps a requested model id to the id a given upstream needs: the first-party id on the
// Anthropic route, a Bedrock profile / base id / application inference profile ARN, or a
// Vertex id with its region. An id the catalog does not know passes through unchanged on the
// Anthropic route and is refused on the others.
import type { CatalogModel, ModelCatalog } from './catalog.js';
import { bedrockGeoPrefix } from './route-data.js';

export type EndpointType = 'global' | 'geo' | 'regional' | 'multi-region';

export interface Resolved {
  /** The catalog model, when known. */
  model?: CatalogModel;
  /** The id to send upstream (in the URL on Bedrock and Vertex, in the body on Anthropic). */
  upstreamId: string;
  endpointType: EndpointType | null;
  /** Vertex: the region the request goes to (per-model overrides applied). */
  region: string | null;
}

export class ModelNotOnRoute extends Error {}

export interface BedrockTarget {
  route: 'bedrock';
  region: string;
  profile: 'geo' | 'global' | 'regional';
  geoPrefix?: string;
  applicationProfiles?: Record<string, string>;
  teamProfiles?: Record<string, Record<string, string>>;
  /** Per-model region overrides. */
  modelRegions?: Record<string, string>;
  /** What an application inference profile wraps (its ARN → global, geo or regional), for its
   * price; by default the upstream's own profile kind. */
  profileWraps?: Record<string, 'geo' | 'global' | 'regional'>;
}

/** The region an ARN names (arn:aws:bedrock:<region>:…): an application inference profile is
 * called in its own region. */
function arnRegion(arn: string): string | undefined {
  return /^arn:aws[a-z-]*:bedrock:([a-z]{2}(?:-gov)?-[a-z]+-\d+):/.exec(arn)?.[1];
}

/** An application inference profile ARN configured on a Bedrock upstream: the model it was
 * configured for. A client may send the ARN itself (Claude Code pinned to it). */
function configuredProfile(catalog: ModelCatalog, target: BedrockTarget, arn: string): CatalogModel | undefined {
  const maps = [target.applicationProfiles ?? {}, ...Object.values(target.teamProfiles ?? {})];
  for (const map of maps) for (const [m, a] of Object.entries(map)) if (a === arn) return catalog.resolve(m);
  return undefined;
}

export interface VertexTarget {
  route: 'vertex';
  region: string;
  modelRegions?: Record<string, string>;
  /** Models Vertex serves on its global endpoint; others go to globalFallback from global. */
  globalModels?: readonly string[];
  globalFallback?: string;
}

/** Anthropic's API shape on a cloud (Mantle on AWS, Foundry on Azure): the catalog's id for
 * that route, or a deployment name given per model. */
export interface NativeCloudTarget {
  route: 'mantle' | 'foundry';
  names?: Record<string, string>;
}

export type RouteTarget = { route: 'anthropic' } | BedrockTarget | VertexTarget | NativeCloudTarget;

/** Finds a per-model entry keyed by any id form of the model. */
function lookupByModel(catalog: ModelCatalog, map: Record<string, string> | undefined, model: CatalogModel): string | undefined {
  if (!map) return undefined;
  for (const [k, v] of Object.entries(map)) if (catalog.resolve(k)?.id === model.id) return v;
  return undefined;
}

export function vertexEndpointType(region: string): EndpointType {
  if (region === 'global') return 'global';
  if (region === 'us' || region === 'eu') return 'multi-region';
  return 'regional';
}

export function resolveModel(catalog: ModelCatalog, requested: string, target: RouteTarget, team?: string | null): Resolved {
  const model = catalog.resolve(requested);
  const oneM = /\[1m\]$/i.test(requested.trim());
  if (target.route === 'anthropic') {
    // Unknown ids pass through unchanged: the API may know models this catalog does not yet.
    if (!model?.ids.first_party) return { upstreamId: requested, endpointType: null, region: null, model };
    // Aliases and undated ids are fine first-party; only translate ids from another route.
    const isFirstPartyForm = !/^(arn:|[a-z-]+\.anthropic\.|anthropic\.)/i.test(requested) && !requested.includes('@');
    return { model, upstreamId: isFirstPartyForm ? requested : model.ids.first_party + (oneM ? '[1m]' : ''), endpointType: null, region: null };
  }
  if (!model && target.route === 'bedrock' && requested.startsWith('arn:')) {
    const wrapped = configuredProfile(catalog, target, requested);
    if (wrapped)
      return {
        model: wrapped,
        upstreamId: requested,
        endpointType: target.profileWraps?.[requested] ?? target.profile,
        region: arnRegion(requested) ?? target.region,
      };
  }
  if (!model)
    throw new ModelNotOnRoute(
      `model "${requested}" is not in the catalog, so it cannot be mapped to the ${target.route} route (see tollgate models --route ${target.route})`,
    );
  if (target.route === 'bedrock') {
    const base = model.ids.bedrock;
    if (!base) throw new ModelNotOnRoute(`model "${requested}" (${model.id}) is not available on the bedrock route`);
    const arn = (team ? lookupByModel(catalog, target.teamProfiles?.[team], model) : undefined) ?? lookupByModel(catalog, target.applicationProfiles, model);
    const region = lookupByModel(catalog, target.modelRegions, model) ?? target.region;
    // An application inference profile wraps the system profile the upstream is set up for.
    if (arn) return { model, upstreamId: arn, endpointType: target.profileWraps?.[arn] ?? target.profile, region: arnRegion(arn) ?? region };
    if (target.profile === 'regional') return { model, upstreamId: base, endpointType: 'regional', region };
    if (target.profile === 'global') return { model, upstreamId: `global.${base}`, endpointType: 'global', region };
    // A region override brings its own geography (us-west-2 → us., eu-central-1 → eu.).
    const geo = (region === target.region ? target.geoPrefix : undefined) ?? bedrockGeoPrefix(region);
    if (!geo) throw new ModelNotOnRoute(`no cross-region geography is known for AWS region ${region}; set geo_prefix on the upstream`);
    return { model, upstreamId: `${geo}.${base}`, endpointType: 'geo', region };
  }
  if (target.route !== 'vertex') {
    const id = lookupByModel(catalog, target.names, model) ?? model.ids[target.route];
    if (!id) throw new ModelNotOnRoute(`model "${requested}" (${model.id}) is not available on the ${target.route} route`);
    return { model, upstreamId: id, endpointType: null, region: null };
  }
  const vid = model.ids.vertex;
  if (!vid) throw new ModelNotOnRoute(`model "${requested}" (${model.id}) is not available on the vertex route`);
  let region = lookupByModel(catalog, target.modelRegions, model) ?? target.region;
  // Older models are not served on the global endpoint: the fallback region instead of a 404.
  if (region === 'global' && target.globalModels && !target.globalModels.includes(model.id)) region = target.globalFallback ?? 'us-east5';
  return { model, upstreamId: vid, endpointType: vertexEndpointType(region), region };
}
