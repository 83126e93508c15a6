// Bedrock Runtime endpoints: InvokeModel, InvokeModelWithResponseStream and CountTokens.
// The model id (a profile id or an ARN with "/") is one path segment, percent-encoded.
import type { Endpoint } from '../types.js';

export function bedrockBaseUrl(region: string, override?: string): string {
  return (override ?? `https://bedrock-runtime.${region}.amazonaws.com`).replace(/\/+$/, '');
}

export function bedrockUrl(base: string, endpoint: Endpoint, modelId: string, stream: boolean): string {
  const id = encodeURIComponent(modelId);
  if (endpoint === 'count_tokens') return `${base}/model/${id}/count-tokens`;
  return `${base}/model/${id}/${stream ? 'invoke-with-response-stream' : 'invoke'}`;
}
