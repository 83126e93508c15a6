// Bedrock errors (x-amzn-errortype before a stream, exception frames inside one) in
// Anthropic's shape, so Claude Code retries or reports them as it would the API's own.
import type { MappedError } from '../types.js';

const BY_TYPE: Record<string, [number, string]> = {
  ThrottlingException: [429, 'rate_limit_error'],
  ServiceQuotaExceededException: [429, 'rate_limit_error'],
  ModelNotReadyException: [429, 'rate_limit_error'],
  ServiceUnavailableException: [529, 'overloaded_error'],
  ValidationException: [400, 'invalid_request_error'],
  AccessDeniedException: [403, 'permission_error'],
  ResourceNotFoundException: [404, 'not_found_error'],
  ModelTimeoutException: [504, 'timeout_error'],
  InternalServerException: [500, 'api_error'],
  ModelStreamErrorException: [500, 'api_error'],
  ModelErrorException: [500, 'api_error'],
  // The gateway's own AWS credentials were refused: not the engineer's key.
  UnrecognizedClientException: [502, 'api_error'],
  ExpiredTokenException: [502, 'api_error'],
  InvalidSignatureException: [502, 'api_error'],
};

/** "throttlingException" (frames), "ThrottlingException:http://…" (headers) → ThrottlingException. */
export function normaliseErrorType(t: string): string {
  const name = t.split(':')[0]!.trim();
  return name.charAt(0).toUpperCase() + name.slice(1);
}

export function mapBedrockError(errorType: string | undefined, status: number, message: string): MappedError {
  const t = errorType ? normaliseErrorType(errorType) : '';
  const m = BY_TYPE[t];
  const text = `${t || `HTTP ${status}`} from Bedrock: ${message || 'no message'}`;
  // CountTokens refuses some models (and application inference profiles) with a 400
  // ValidationException; the gateway protocol's answer for "this route cannot do that" is
  // 501 not_supported, on which Claude Code stops asking and estimates instead.
  if (t === 'ValidationException' && /support counting tokens/i.test(message)) return { status: 501, type: 'not_supported', message: text };
  if (m) return { status: m[0], type: m[1], message: text };
  if (status === 503) return { status: 529, type: 'overloaded_error', message: text };
  if (status === 429) return { status: 429, type: 'rate_limit_error', message: text };
  return { status: status >= 400 ? status : 500, type: status >= 500 || status < 400 ? 'api_error' : 'invalid_request_error', message: text };
}

export function bedrockErrorMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { message?: unknown; Message?: unknown };
    const m = j.message ?? j.Message;
    if (typeof m === 'string') return m;
  } catch {
    /* not JSON */
  }
  return body.slice(0, 500);
}
