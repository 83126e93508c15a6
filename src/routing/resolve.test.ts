import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { loadCatalog } from './catalog.js';
import { ModelNotOnRoute, resolveModel } from './resolve.js';
import { bedrockGeoPrefix } from './route-data.js';

interface RefModel {
  id: string;
  provider_ids: Record<string, string | null>;
}
const reference = JSON.parse(readFileSync(resolvePath(packageRoot(), 'test', 'fixtures', 'claude-models.json'), 'utf8')) as {
  models: RefModel[];
  aliases: Record<string, { default: string }>;
};
const catalog = loadCatalog();

describe('model id mapping', () => {
  it('resolves every id form of every model to that model', () => {
    for (const m of reference.models) {
      const forms = [m.id, ...Object.values(m.provider_ids).filter((v): v is string => Boolean(v))];
      for (const f of forms) assert.equal(catalog.resolve(f)?.id, m.id, f);
      const fp = m.provider_ids.first_party!;
      assert.equal(catalog.resolve(`${fp}[1m]`)?.id, m.id, '[1m] suffix');
      if (m.provider_ids.bedrock) {
        const base = m.provider_ids.bedrock.replace(/^us\./, '');
        for (const g of ['eu', 'apac', 'global', 'us']) assert.equal(catalog.resolve(`${g}.${base}`)?.id, m.id);
      }
    }
    for (const [alias, a] of Object.entries(reference.aliases)) assert.equal(catalog.resolve(alias)?.id, a.default, alias);
  });

  it('maps every model to its id on every route and region form', () => {
    for (const m of reference.models) {
      const p = m.provider_ids;
      assert.equal(resolveModel(catalog, p.first_party!, { route: 'anthropic' }).upstreamId, p.first_party);
      if (p.bedrock) {
        // A Bedrock or Vertex id sent to the Anthropic route becomes the first-party id.
        assert.equal(resolveModel(catalog, p.bedrock, { route: 'anthropic' }).upstreamId, p.first_party);
        const base = p.bedrock.replace(/^us\./, '');
        const geo = resolveModel(catalog, m.id, { route: 'bedrock', region: 'eu-central-1', profile: 'geo' });
        assert.deepEqual([geo.upstreamId, geo.endpointType], [`eu.${base}`, 'geo']);
        assert.equal(resolveModel(catalog, p.first_party!, { route: 'bedrock', region: 'ap-southeast-2', profile: 'geo' }).upstreamId, `apac.${base}`);
        assert.equal(resolveModel(catalog, p.vertex ?? m.id, { route: 'bedrock', region: 'us-west-2', profile: 'global' }).upstreamId, `global.${base}`);
        assert.deepEqual(
          [
            resolveModel(catalog, m.id, { route: 'bedrock', region: 'us-east-1', profile: 'regional' }).upstreamId,
            resolveModel(catalog, m.id, { route: 'bedrock', region: 'us-east-1', profile: 'regional' }).endpointType,
          ],
          [base, 'regional'],
        );
      } else {
        assert.throws(() => resolveModel(catalog, m.id, { route: 'bedrock', region: 'us-east-1', profile: 'geo' }), ModelNotOnRoute);
      }
      if (p.vertex) {
        for (const [region, type] of [
          ['global', 'global'],
          ['us', 'multi-region'],
          ['eu', 'multi-region'],
          ['us-east5', 'regional'],
        ] as const) {
          const r = resolveModel(catalog, p.bedrock ?? m.id, { route: 'vertex', region });
          assert.deepEqual([r.upstreamId, r.endpointType, r.region], [p.vertex, type, region]);
        }
      } else {
        assert.throws(() => resolveModel(catalog, m.id, { route: 'vertex', region: 'global' }), ModelNotOnRoute);
      }
    }
  });

  it('passes unknown ids through on the Anthropic route and refuses them elsewhere, naming the route', () => {
    assert.equal(resolveModel(catalog, 'claude-future-9', { route: 'anthropic' }).upstreamId, 'claude-future-9');
    assert.throws(() => resolveModel(catalog, 'claude-future-9', { route: 'vertex', region: 'global' }), /vertex route/);
    assert.throws(() => resolveModel(catalog, 'claude-future-9', { route: 'bedrock', region: 'eu-west-1', profile: 'geo' }), /bedrock route/);
  });

  it('applies per-model Vertex regions and per-team Bedrock application profiles by any id form', () => {
    const v = resolveModel(catalog, 'claude-haiku-4-5-20251001', {
      route: 'vertex',
      region: 'us-east5',
      modelRegions: { 'claude-haiku-4-5@20251001': 'europe-west4' },
    });
    assert.deepEqual([v.region, v.endpointType], ['europe-west4', 'regional']);
    const arn = 'arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/xyz';
    const target = {
      route: 'bedrock' as const,
      region: 'us-east-1',
      profile: 'geo' as const,
      applicationProfiles: { sonnet: 'arn:default' },
      teamProfiles: { data: { 'claude-sonnet-5-5': arn } },
    };
    assert.equal(resolveModel(catalog, 'claude-sonnet-5-5', target, 'data').upstreamId, arn);
    assert.equal(resolveModel(catalog, 'claude-sonnet-5-5', target, 'web').upstreamId, 'arn:default', 'alias keys resolve too');
    assert.equal(resolveModel(catalog, 'claude-opus-4-7', target, 'data').upstreamId, 'us.anthropic.claude-opus-4-7');
  });

  it('derives the geography prefix from the region', () => {
    assert.deepEqual(['us-east-1', 'us-gov-west-1', 'eu-west-3', 'ap-northeast-1', 'ca-central-1'].map(bedrockGeoPrefix), ['us', 'us-gov', 'eu', 'apac', 'us']);
    assert.equal(bedrockGeoPrefix('xx-nowhere-1'), null);
  });
});
