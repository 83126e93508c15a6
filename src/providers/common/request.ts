// Request translation pieces more than one route adapter uses: the model on the route, betas.
import { ModelNotOnRoute } from '../../routing/resolve.js';
import { GatewayError } from '../../server/errors.js';

/** Runs a model resolution; a model the route lacks becomes the gateway's 400 naming the upstream. */
export function resolveOrRefuse<T>(upstream: string, resolve: () => T): T {
  try {
    return resolve();
  } catch (err) {
    if (err instanceof ModelNotOnRoute) throw new GatewayError('TG_MODEL_NOT_ON_ROUTE', `upstream "${upstream}": ${err.message}`);
    throw err;
  }
}

/** Betas from the anthropic-beta header, minus those a route rejects. */
export function betasFrom(header: string | string[] | undefined, drop: readonly string[]): string[] {
  const v = Array.isArray(header) ? header.join(',') : (header ?? '');
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s && !drop.includes(s));
}
