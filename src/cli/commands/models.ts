// tollgate models [resolve]: the model catalog and its ids per route.
import type { Command } from 'commander';
import { loadCatalog } from '../../routing/catalog.js';
import { ModelNotOnRoute, resolveModel, type RouteTarget } from '../../routing/resolve.js';
import { out, table, UsageError } from '../shared.js';

interface RouteOpts {
  route?: string;
  region?: string;
  profile?: string;
  json?: boolean;
}

function target(o: RouteOpts): RouteTarget {
  const route = o.route ?? 'anthropic';
  if (route === 'anthropic') return { route: 'anthropic' };
  if (route === 'bedrock') {
    const profile = o.profile ?? 'geo';
    if (!['geo', 'global', 'regional'].includes(profile)) throw new UsageError(`--profile ${profile}: expected geo, global or regional`);
    if (!o.region) throw new UsageError('--region is required for --route bedrock (e.g. eu-west-1)');
    return { route: 'bedrock', region: o.region, profile: profile as 'geo' };
  }
  if (route === 'vertex') return { route: 'vertex', region: o.region ?? 'global' };
  throw new UsageError(`--route ${route}: expected anthropic, bedrock or vertex`);
}

function routeOptions(c: Command): Command {
  return c
    .option('--route <route>', 'anthropic | bedrock | vertex', 'anthropic')
    .option('--region <region>', 'AWS region (bedrock) or Vertex location (global, us, eu, us-east5 …)')
    .option('--profile <profile>', 'bedrock model ids: geo (default) | global | regional')
    .option('--json', 'print JSON');
}

export function register(program: Command): void {
  const models = routeOptions(program.command('models').description("print the model catalog with each model's id on a route and region"))
    .enablePositionalOptions()
    .action((o: RouteOpts) => {
      const cat = loadCatalog();
      const tg = target(o);
      const rows = cat.models.map((m) => {
        try {
          const r = resolveModel(cat, m.id, tg);
          return {
            model: m.id,
            family: m.family,
            display_name: m.display_name,
            id: r.upstreamId,
            endpoint_type: r.endpointType,
            region: r.region,
            context_window: m.max_context_window,
            available: true,
          };
        } catch (err) {
          if (!(err instanceof ModelNotOnRoute)) throw err;
          return {
            model: m.id,
            family: m.family,
            display_name: m.display_name,
            id: null,
            endpoint_type: null,
            region: null,
            context_window: m.max_context_window,
            available: false,
          };
        }
      });
      if (o.json) return out(JSON.stringify(rows, null, 2));
      out(
        table(
          ['MODEL', 'FAMILY', `ID ON ${tg.route.toUpperCase()}`, 'ENDPOINT', 'REGION', 'CONTEXT'],
          rows.map((r) => [r.model, r.family, r.id ?? '(not available)', r.endpoint_type, r.region, r.context_window]),
        ),
      );
    });

  routeOptions(
    models
      .command('resolve')
      .description('map one model id (any form: alias, dated, Bedrock, Vertex) to its id on a route')
      .argument('<id>', 'model id as a client would send it'),
  ).action((id: string, o: RouteOpts) => {
    const cat = loadCatalog();
    const tg = target(o);
    try {
      const r = resolveModel(cat, id, tg);
      const res = {
        requested: id,
        model: r.model?.id ?? null,
        route: tg.route,
        id: r.upstreamId,
        endpoint_type: r.endpointType,
        region: r.region,
        known: r.model !== undefined,
      };
      if (o.json) return out(JSON.stringify(res, null, 2));
      out(
        `${id} → ${r.upstreamId}  (route ${tg.route}${r.region ? `, region ${r.region}` : ''}${r.endpointType ? `, ${r.endpointType} endpoint` : ''}${r.model ? `; catalog model ${r.model.id}` : '; not in the catalog: passed through unchanged'})`,
      );
    } catch (err) {
      if (err instanceof ModelNotOnRoute) throw new UsageError(err.message);
      throw err;
    }
  });
}
