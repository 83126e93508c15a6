// Claude in Microsoft Foundry (type: foundry): Anthropic's API at
// {resource}.services.ai.azure.com/anthropic, the resource's API key in the api-key header, and
// models by deployment name (the catalog's foundry id unless deployments says otherwise).
import type { FoundryUpstreamConfig } from '../../config/schema.js';
import type { ModelCatalog } from '../../routing/catalog.js';
import { redactUrl } from '../../util/redact.js';
import { NativeCloudUpstream } from '../common/native.js';

export function foundryUpstream(cfg: FoundryUpstreamConfig, catalog: ModelCatalog): NativeCloudUpstream {
  const baseUrl = cfg.base_url ?? `https://${cfg.resource as string}.services.ai.azure.com/anthropic`;
  return new NativeCloudUpstream(
    {
      name: cfg.name,
      route: 'foundry',
      region: null,
      baseUrl,
      displayUrl: redactUrl(baseUrl),
      credentialHint: `check the API key of upstream "${cfg.name}" (upstreams[].api_key, e.g. $ANTHROPIC_FOUNDRY_API_KEY) and that the resource has the model deployed`,
      timeouts: cfg,
      names: cfg.deployments,
      auth: async (_m, _u, headers) => ({ ...headers, 'api-key': cfg.api_key ?? '' }),
      credentialProblem: () => (cfg.api_key ? null : `upstream "${cfg.name}" has no api_key (set upstreams[].api_key, e.g. \${ANTHROPIC_FOUNDRY_API_KEY})`),
    },
    catalog,
  );
}
