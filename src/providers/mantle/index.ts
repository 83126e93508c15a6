// Claude in Amazon Bedrock ("Mantle", type: mantle): Anthropic's API at
// bedrock-mantle.{region}.api.aws/anthropic, anthropic.claude-… ids (data/models.json, ids.mantle),
// a Bedrock API key as bearer or SigV4 for the service bedrock-mantle.
import type { MantleUpstreamConfig } from '../../config/schema.js';
import type { ModelCatalog } from '../../routing/catalog.js';
import { redactUrl } from '../../util/redact.js';
import { BedrockAuth } from '../bedrock/auth.js';
import { NativeCloudUpstream } from '../common/native.js';

export function mantleUpstream(cfg: MantleUpstreamConfig, catalog: ModelCatalog): NativeCloudUpstream {
  const baseUrl = cfg.base_url ?? `https://bedrock-mantle.${cfg.region}.api.aws/anthropic`;
  const auth = new BedrockAuth({ region: cfg.region, bearerToken: cfg.bearer_token, profile: cfg.aws_profile, service: 'bedrock-mantle' });
  return new NativeCloudUpstream(
    {
      name: cfg.name,
      route: 'mantle',
      region: cfg.region,
      baseUrl,
      displayUrl: redactUrl(baseUrl),
      credentialHint: `check upstream "${cfg.name}"'s AWS credentials (bearer_token, aws_profile or the AWS chain) and that they may call bedrock-mantle in ${cfg.region}`,
      timeouts: cfg,
      auth: (method, url, headers, body) => auth.headers(method, url, headers, body),
      // The AWS chain is only known to fail when a request is signed; a key is checked now.
      credentialProblem: () => (cfg.bearer_token === '' ? `upstream "${cfg.name}" has an empty bearer_token` : null),
    },
    catalog,
  );
}
