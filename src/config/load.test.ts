import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ConfigError, parseConfig } from './load.js';
import { configSchema, type AnthropicUpstreamConfig } from './schema.js';

const issueExample = `
server: { host: 127.0.0.1, port: 8787 }
store: { sqlite: ./data/tollgate.db }
upstreams:
  - name: anthropic
    type: anthropic
    base_url: https://api.anthropic.com      # optional; overridable for proxies and tests
    api_key: \${ANTHROPIC_API_KEY}
`;

function problems(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, 't.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('config', () => {
  it('accepts the documented example and expands ${VAR} from the environment', () => {
    const { config, missingEnv } = parseConfig(issueExample, 't.yaml', { ANTHROPIC_API_KEY: 'sk-ant-xyz' });
    assert.equal(config.server.port, 8787);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.store.sqlite, './data/tollgate.db');
    assert.equal((config.upstreams[0] as AnthropicUpstreamConfig).api_key, 'sk-ant-xyz');
    assert.equal(config.upstreams[0]!.base_url, 'https://api.anthropic.com');
    assert.deepEqual(missingEnv, []);
  });

  it('runs on defaults with no file and reports the missing key variable', () => {
    const { config, missingEnv } = parseConfig('{}', '(defaults)', {});
    assert.equal(config.server.port, 8787);
    assert.equal(config.upstreams[0]!.name, 'anthropic');
    assert.equal((config.upstreams[0] as AnthropicUpstreamConfig).api_key, '');
    assert.equal(config.server.max_body_bytes, 32 * 1024 * 1024);
    assert.deepEqual(missingEnv, ['ANTHROPIC_API_KEY']);
  });

  it('expands variables inside values only, never into YAML structure', () => {
    const { config } = parseConfig('upstreams:\n  - { name: a, type: anthropic, api_key: "${K}" }\n', 't', { K: 'x\n  - evil: [1' });
    assert.equal((config.upstreams[0] as AnthropicUpstreamConfig).api_key, 'x\n  - evil: [1');
    assert.equal(config.upstreams.length, 1);
    const d = parseConfig('upstreams:\n  - { name: a, type: anthropic, api_key: "${K:-fallback}" }\n', 't', {});
    assert.equal((d.config.upstreams[0] as AnthropicUpstreamConfig).api_key, 'fallback');
  });

  it('reports every problem at once, with key paths and hints for renamed keys', () => {
    const p = problems(`
server: { port: 99999, hots: x }
store: { sqlite: 5 }
upstreams:
  - { name: a, type: anthropic, baseUrl: "http://x" }
  - { name: b, type: nonsense }
  - { name: a, type: anthropic, base_url: "not a url" }
`);
    const all = p.join('\n');
    assert.match(all, /server\.port: /);
    assert.match(all, /server\.hots: unknown key/);
    assert.match(all, /store\.sqlite: /);
    assert.match(all, /upstreams\[0\]\.baseUrl: unknown key \(did you mean "base_url"\?\)/);
    assert.match(all, /upstreams\[1\]\.type/);
    assert.match(all, /upstreams\[2\]\.base_url/);
    assert.ok(p.length >= 6, all);
  });

  it('rejects duplicate upstream names and broken YAML clearly', () => {
    assert.match(problems('upstreams:\n  - { name: a, type: anthropic }\n  - { name: a, type: anthropic }\n').join(), /duplicate name "a"/);
    assert.match(problems('server: [unclosed').join(), /YAML/);
    assert.match(problems('- just\n- a list').join(), /expected a mapping/);
  });

  it('accepts the routing example and checks that routes name real upstreams', () => {
    const { config } = parseConfig(
      `
upstreams:
  - { name: anthropic, type: anthropic, api_key: "\${ANTHROPIC_API_KEY}" }
  - { name: bedrock-eu, type: bedrock, region: eu-west-1, profile: geo }
  - { name: vertex-us, type: vertex, project: my-proj, region: us-east5,
      model_regions: { claude-haiku-4-5: us-east5 } }
routes:
  default: [anthropic, vertex-us]
  teams: { eu-finance: [bedrock-eu] }
`,
      't',
      { ANTHROPIC_API_KEY: 'k' },
    );
    assert.deepEqual(config.routes.default, ['anthropic', 'vertex-us']);
    assert.deepEqual(config.routes.teams, { 'eu-finance': ['bedrock-eu'] });
    assert.equal(config.upstreams[1]!.type, 'bedrock');
    assert.equal(config.failover.max_attempts, 3);
    const p = problems(`
upstreams:
  - { name: a, type: bedrock, region: europe }
  - { name: v, type: vertex }
routes: { default: [a, nope], teams: { t: [ghost] } }
`);
    const all = p.join('\n');
    assert.match(all, /upstreams\[0\]\.region: an AWS region/);
    assert.match(all, /upstreams\[1\]\.project/);
    assert.ok(p.length >= 2);
    assert.match(
      problems('upstreams:\n  - { name: a, type: anthropic }\nroutes: { default: [a, nope], teams: { t: [ghost] } }\n').join('\n'),
      /routes\.default: no upstream named "nope"[\s\S]*routes\.teams\.t: no upstream named "ghost"/,
    );
  });

  it('generates a JSON Schema for editors', () => {
    const schema = z.toJSONSchema(configSchema, { io: 'input' }) as { properties: Record<string, unknown> };
    assert.ok(schema.properties.upstreams && schema.properties.server && schema.properties.store);
  });
});
