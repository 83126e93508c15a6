// Vertex AI endpoints for Anthropic models: global, multi-region (us, eu) or a region.
import type { Endpoint } from '../types.js';

export function vertexBaseUrl(region: string, override?: string): string {
  if (override) return override.replace(/\/+$/, '');
  if (region === 'global') return 'https://aiplatform.googleapis.com/v1';
  if (region === 'us' || region === 'eu') return `https://aiplatform.${region}.rep.googleapis.com/v1`;
  return `https://${region}-aiplatform.googleapis.com/v1`;
}

export function vertexUrl(base: string, project: string, region: string, endpoint: Endpoint, modelId: string, stream: boolean): string {
  const prefix = `${base}/projects/${encodeURIComponent(project)}/locations/${encodeURIComponent(region)}/publishers/anthropic/models`;
  if (endpoint === 'count_tokens') return `${prefix}/count-tokens:rawPredict`;
  return `${prefix}/${encodeURIComponent(modelId).replace(/%40/g, '@')}:${stream ? 'streamRawPredict' : 'rawPredict'}`;
}
