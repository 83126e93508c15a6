// Credentials of the Anthropic route: the operator's API key as x-api-key.
export function authHeaders(apiKey: string): Record<string, string> {
  return { 'x-api-key': apiKey };
}
