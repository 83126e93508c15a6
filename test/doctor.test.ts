// tollgate doctor and setup: one scratch HOME and project per pitfall from the billing-route
// articles; clean configurations per route; setup output checked by the doctor.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diagnose, exitCode, type DoctorReport } from '../src/clientconfig/doctor.js';
import { readClaudeConfig } from '../src/clientconfig/settings.js';
import { loadCatalog } from '../src/routing/catalog.js';
import { tollgate, tollgateAsync } from './helpers/cli.js';
import { FakeAnthropic } from './helpers/fake-anthropic.js';
import { startGateway, upstreamYaml } from './helpers/gateway.js';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

interface Fixture {
  env?: Record<string, string>;
  user?: object;
  project?: object;
  local?: object;
  managed?: object;
  loggedIn?: boolean;
  files?: Record<string, string>;
}

function scratch(f: Fixture): { home: string; cwd: string; managed: string } {
  const root = mkdtempSync(join(tmpdir(), 'tollgate-doctor-'));
  roots.push(root);
  const home = join(root, 'home');
  const cwd = join(root, 'project');
  mkdirSync(join(home, '.claude'), { recursive: true });
  mkdirSync(join(cwd, '.claude'), { recursive: true });
  if (f.user) writeFileSync(join(home, '.claude', 'settings.json'), JSON.stringify(f.user));
  if (f.project) writeFileSync(join(cwd, '.claude', 'settings.json'), JSON.stringify(f.project));
  if (f.local) writeFileSync(join(cwd, '.claude', 'settings.local.json'), JSON.stringify(f.local));
  const managed = join(root, 'managed-settings.json');
  if (f.managed) writeFileSync(managed, JSON.stringify(f.managed));
  if (f.loggedIn) writeFileSync(join(home, '.claude', '.credentials.json'), '{"claudeAiOauth":{}}');
  for (const [name, text] of Object.entries(f.files ?? {})) writeFileSync(join(root, name), text.replace(/\$ROOT/g, root));
  return { home, cwd, managed };
}

function doctor(f: Fixture): DoctorReport {
  const s = scratch(f);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(f.env ?? {})) env[k] = v.replace(/\$ROOT/g, join(s.home, '..'));
  return diagnose(readClaudeConfig({ env, home: s.home, cwd: s.cwd, managedPath: s.managed }), loadCatalog());
}

function codes(r: DoctorReport): string[] {
  return r.findings.map((f) => f.code);
}

function finding(r: DoctorReport, code: string) {
  const f = r.findings.find((x) => x.code === code);
  assert.ok(f, `expected ${code}, got ${JSON.stringify(r.findings, null, 1)}`);
  return f;
}

const PINNED_BEDROCK_EU = {
  ANTHROPIC_DEFAULT_OPUS_MODEL: 'eu.anthropic.claude-opus-4-6-v1',
  ANTHROPIC_DEFAULT_SONNET_MODEL: 'eu.anthropic.claude-sonnet-4-5-20250929-v1:0',
  ANTHROPIC_DEFAULT_HAIKU_MODEL: 'eu.anthropic.claude-haiku-4-5-20251001-v1:0',
};
const PINNED_VERTEX = {
  ANTHROPIC_DEFAULT_OPUS_MODEL: 'claude-opus-4-6',
  ANTHROPIC_DEFAULT_SONNET_MODEL: 'claude-sonnet-4-6',
  ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5@20251001',
};
const ADC = { 'sa.json': '{"type":"service_account","project_id":"proj-a","client_email":"x@proj-a.iam.gserviceaccount.com"}' };

describe('doctor: every pitfall, named with its fix', () => {
  it('a Bedrock id pasted into a Vertex config', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_VERTEX: '1',
        CLOUD_ML_REGION: 'us-east5',
        ANTHROPIC_VERTEX_PROJECT_ID: 'proj-a',
        GOOGLE_APPLICATION_CREDENTIALS: '$ROOT/sa.json',
        ...PINNED_VERTEX,
        ANTHROPIC_DEFAULT_OPUS_MODEL: 'us.anthropic.claude-opus-4-8',
      },
      files: ADC,
    });
    const f = finding(r, 'MODEL_ID_WRONG_ROUTE');
    assert.match(f.message, /ANTHROPIC_DEFAULT_OPUS_MODEL=us\.anthropic\.claude-opus-4-8 is a Bedrock id/);
    assert.equal(f.fix, 'export ANTHROPIC_DEFAULT_OPUS_MODEL=claude-opus-4-8');
    assert.equal(exitCode(r), 2);
  });

  it('a bare first-party id where Bedrock expects an inference profile', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        AWS_REGION: 'eu-west-1',
        AWS_PROFILE: 'dev',
        ...PINNED_BEDROCK_EU,
        ANTHROPIC_DEFAULT_SONNET_MODEL: 'claude-sonnet-4-6',
      },
    });
    assert.equal(finding(r, 'MODEL_ID_WRONG_ROUTE').fix, 'export ANTHROPIC_DEFAULT_SONNET_MODEL=eu.anthropic.claude-sonnet-4-6');
  });

  it('a us. profile with an EU AWS_REGION', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        AWS_REGION: 'eu-central-1',
        AWS_PROFILE: 'dev',
        ...PINNED_BEDROCK_EU,
        ANTHROPIC_DEFAULT_HAIKU_MODEL: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      },
    });
    const f = finding(r, 'BEDROCK_GEO_MISMATCH');
    assert.match(f.message, /us\. profile but AWS_REGION=eu-central-1 is in the eu geography/);
    assert.match(f.fix, /^export ANTHROPIC_DEFAULT_HAIKU_MODEL=eu\.anthropic\.claude-haiku-4-5-20251001-v1:0/);
  });

  it('AWS_REGION missing on Bedrock', () => {
    const r = doctor({ env: { CLAUDE_CODE_USE_BEDROCK: '1', AWS_DEFAULT_REGION: 'eu-west-1', AWS_PROFILE: 'dev', ...PINNED_BEDROCK_EU } });
    const f = finding(r, 'AWS_REGION_MISSING');
    assert.equal(f.fix, 'export AWS_REGION=eu-west-1');
    assert.match(f.message, /does not read AWS_DEFAULT_REGION/);
  });

  it('a stray ANTHROPIC_API_KEY silently overriding a subscription', () => {
    const r = doctor({ env: { ANTHROPIC_API_KEY: 'sk-ant-stray-secret-123', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5' }, loggedIn: true });
    assert.equal(r.credential.kind, 'ANTHROPIC_API_KEY');
    assert.match(finding(r, 'API_KEY_OVERRIDES_SUBSCRIPTION').fix, /^unset ANTHROPIC_API_KEY/);
    assert.ok(!JSON.stringify(r).includes('sk-ant-stray-secret-123'), 'the secret is never in the report');
    assert.match(r.credential.fingerprint ?? '', /^sha256:[0-9a-f]{8}$/);
  });

  it('a forgotten CLAUDE_CODE_USE_BEDROCK taking precedence over a base URL (set in a settings file)', () => {
    const r = doctor({
      env: { ANTHROPIC_BASE_URL: 'https://gw.example.com', ANTHROPIC_AUTH_TOKEN: 'tg_x' },
      user: { env: { CLAUDE_CODE_USE_BEDROCK: '1', AWS_REGION: 'us-east-1' } },
    });
    assert.equal(r.provider, 'bedrock');
    const f = finding(r, 'CLOUD_FLAG_OVERRIDES_BASE_URL');
    assert.match(f.message, /CLAUDE_CODE_USE_BEDROCK \(from user settings/);
    assert.match(f.fix, /^remove "CLAUDE_CODE_USE_BEDROCK" from the env block of .*home\/\.claude\/settings\.json/);
  });

  it('the deprecated ANTHROPIC_SMALL_FAST_MODEL', () => {
    const r = doctor({ env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_SMALL_FAST_MODEL: 'claude-haiku-4-5' } });
    assert.equal(finding(r, 'SMALL_FAST_MODEL_DEPRECATED').fix, 'export ANTHROPIC_DEFAULT_HAIKU_MODEL=claude-haiku-4-5 && unset ANTHROPIC_SMALL_FAST_MODEL');
  });

  it('an unpinned Haiku model', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        AWS_REGION: 'ap-southeast-2',
        AWS_PROFILE: 'dev',
        ANTHROPIC_DEFAULT_OPUS_MODEL: 'apac.anthropic.claude-opus-4-6-v1',
        ANTHROPIC_DEFAULT_SONNET_MODEL: 'apac.anthropic.claude-sonnet-4-6',
      },
    });
    assert.equal(finding(r, 'HAIKU_UNPINNED').fix, 'export ANTHROPIC_DEFAULT_HAIKU_MODEL=apac.anthropic.claude-haiku-4-5-20251001-v1:0');
  });

  it('a Vertex project overridden by GOOGLE_CLOUD_PROJECT', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_VERTEX: '1',
        CLOUD_ML_REGION: 'us-east5',
        ANTHROPIC_VERTEX_PROJECT_ID: 'proj-a',
        GOOGLE_CLOUD_PROJECT: 'proj-b',
        GOOGLE_APPLICATION_CREDENTIALS: '$ROOT/sa.json',
        ...PINNED_VERTEX,
      },
      files: ADC,
    });
    const f = finding(r, 'VERTEX_PROJECT_OVERRIDDEN');
    assert.match(f.message, /GOOGLE_CLOUD_PROJECT=proj-b .* takes precedence over ANTHROPIC_VERTEX_PROJECT_ID=proj-a/);
    assert.equal(f.fix, 'unset GOOGLE_CLOUD_PROJECT');
  });

  it('CLOUD_ML_REGION=global with a model not served there', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_VERTEX: '1',
        CLOUD_ML_REGION: 'global',
        ANTHROPIC_VERTEX_PROJECT_ID: 'proj-a',
        GOOGLE_APPLICATION_CREDENTIALS: '$ROOT/sa.json',
        ...PINNED_VERTEX,
        ANTHROPIC_DEFAULT_SONNET_MODEL: 'claude-3-7-sonnet@20250219',
      },
      files: ADC,
    });
    assert.equal(finding(r, 'VERTEX_GLOBAL_UNSUPPORTED').fix, 'export VERTEX_REGION_CLAUDE_3_7_SONNET=us-east5');
    const fixed = doctor({
      env: {
        CLAUDE_CODE_USE_VERTEX: '1',
        CLOUD_ML_REGION: 'global',
        ANTHROPIC_VERTEX_PROJECT_ID: 'proj-a',
        GOOGLE_APPLICATION_CREDENTIALS: '$ROOT/sa.json',
        ...PINNED_VERTEX,
        ANTHROPIC_DEFAULT_SONNET_MODEL: 'claude-3-7-sonnet@20250219',
        VERTEX_REGION_CLAUDE_3_7_SONNET: 'us-east5',
      },
      files: ADC,
    });
    assert.ok(!codes(fixed).includes('VERTEX_GLOBAL_UNSUPPORTED'));
    assert.equal(fixed.models.find((m) => m.alias === 'sonnet')!.region, 'us-east5');
  });

  it('stale and risky base URLs', () => {
    const r = doctor({
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        AWS_REGION: 'eu-west-1',
        AWS_PROFILE: 'dev',
        ...PINNED_BEDROCK_EU,
        ANTHROPIC_VERTEX_BASE_URL: 'https://old-proxy.example.com/v1',
      },
    });
    assert.equal(finding(r, 'STALE_BASE_URL').fix, 'unset ANTHROPIC_VERTEX_BASE_URL');
    const p = doctor({
      env: { ANTHROPIC_BASE_URL: 'http://gateway.corp.example:8787', ANTHROPIC_AUTH_TOKEN: 't', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5' },
    });
    assert.equal(finding(p, 'BASE_URL_PLAINTEXT').fix, 'export ANTHROPIC_BASE_URL=https://gateway.corp.example:8787');
  });

  it('Vertex set-up requirements (seed 002): project, region, credentials', () => {
    const r = doctor({ env: { CLAUDE_CODE_USE_VERTEX: '1' } });
    for (const c of ['VERTEX_PROJECT_MISSING', 'CLOUD_ML_REGION_MISSING', 'ADC_NOT_FOUND', 'MODEL_UNPINNED', 'HAIKU_UNPINNED']) finding(r, c);
    assert.equal(finding(r, 'ADC_NOT_FOUND').fix, 'gcloud auth application-default login');
    const missing = doctor({
      env: {
        CLAUDE_CODE_USE_VERTEX: '1',
        CLOUD_ML_REGION: 'global',
        ANTHROPIC_VERTEX_PROJECT_ID: 'p',
        GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json',
        ...PINNED_VERTEX,
      },
    });
    finding(missing, 'ADC_FILE_MISSING');
  });

  it('Bedrock set-up requirements (seed 004): credentials, region, pinned profiles', () => {
    const r = doctor({ env: { CLAUDE_CODE_USE_BEDROCK: '1', AWS_REGION: 'us-east-1', ANTHROPIC_API_KEY: 'sk-ant-x' } });
    for (const c of ['AWS_CREDENTIALS_NOT_FOUND', 'ANTHROPIC_CREDENTIAL_IGNORED', 'MODEL_UNPINNED', 'HAIKU_UNPINNED']) finding(r, c);
    const key = doctor({
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        AWS_REGION: 'us-east-1',
        AWS_BEARER_TOKEN_BEDROCK: 'bedrock-key-secret',
        ANTHROPIC_DEFAULT_OPUS_MODEL: 'us.anthropic.claude-opus-4-6-v1',
        ANTHROPIC_DEFAULT_SONNET_MODEL: 'global.anthropic.claude-sonnet-4-6',
        ANTHROPIC_DEFAULT_HAIKU_MODEL: 'us.anthropic.claude-haiku-4-5-20251001-v1:0',
      },
    });
    assert.equal(key.credential.kind, 'bedrock_api_key');
    assert.deepEqual(key.findings, []);
    assert.equal(key.endpoint, 'https://bedrock-runtime.us-east-1.amazonaws.com');
  });
});

describe("doctor: Claude Code's telemetry aimed at the gateway", () => {
  const base = { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787', ANTHROPIC_AUTH_TOKEN: 'tg_x', CLAUDE_CODE_ENABLE_TELEMETRY: '1', OTEL_METRICS_EXPORTER: 'otlp' };
  it('gRPC to the HTTP port loses every record: an error with the fix', () => {
    const r = doctor({
      env: {
        ...base,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:8787',
        OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer tg_x',
      },
    });
    const f = finding(r, 'TELEMETRY_GRPC_ON_HTTP_PORT');
    assert.equal(f.severity, 'error');
    assert.match(f.fix, /OTEL_EXPORTER_OTLP_PROTOCOL=http\/protobuf/);
    assert.equal(exitCode(r), 2);
  });
  it('OTLP/HTTP to port 4317, gRPC to another port (needs telemetry.grpc_port), and no key', () => {
    let r = doctor({ env: { ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317' } });
    assert.ok(codes(r).includes('TELEMETRY_HTTP_ON_GRPC_PORT'));
    assert.ok(codes(r).includes('TELEMETRY_NO_KEY'));
    r = doctor({
      env: {
        ...base,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317',
        OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer tg_x',
      },
    });
    assert.match(finding(r, 'TELEMETRY_GRPC_PORT').fix, /grpc_port: 4317/);
    assert.ok(!codes(r).includes('TELEMETRY_NO_KEY'));
    // Telemetry elsewhere (a collector of their own) is not the gateway's business.
    r = doctor({ env: { ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel.internal:4317' } });
    assert.ok(!codes(r).some((c) => c.startsWith('TELEMETRY_')));
  });
  it('--probe asks the gateway which gRPC port it serves', async () => {
    const fake = await new FakeAnthropic().start();
    const gw = await startGateway(upstreamYaml(fake.url) + 'telemetry: { grpc_port: 0 }\n');
    try {
      const { probeTelemetry } = await import('../src/clientconfig/probe.js');
      const at = (port: number) => {
        const s = scratch({});
        const env = {
          ...base,
          ANTHROPIC_BASE_URL: gw.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer x',
        };
        const cfg = readClaudeConfig({ env, home: s.home, cwd: s.cwd, managedPath: s.managed });
        return probeTelemetry(cfg, diagnose(cfg, loadCatalog()));
      };
      assert.equal((await at(gw.gw.grpc!.port))?.code, 'TELEMETRY_GRPC_SERVED');
      const wrong = await at(4317 === gw.gw.grpc!.port ? 4318 : 4317);
      assert.equal(wrong?.code, 'TELEMETRY_GRPC_NOT_SERVED');
      assert.match(wrong!.fix, new RegExp(`:${gw.gw.grpc!.port}$`));
    } finally {
      await gw.stop();
      await fake.stop();
    }
  });
});

describe('doctor: precedence and clean configurations', () => {
  it('walks the settings files in precedence order: managed > local > project > user > shell', () => {
    const r = doctor({
      env: { ANTHROPIC_MODEL: 'from-shell', ANTHROPIC_AUTH_TOKEN: 't' },
      user: { env: { ANTHROPIC_MODEL: 'claude-opus-4-6', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5' } },
      project: { env: { ANTHROPIC_MODEL: 'claude-sonnet-4-6' } },
      local: { env: { ANTHROPIC_MODEL: 'claude-sonnet-4-5' } },
      managed: { env: { ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-5-5' } },
    });
    const main = r.models.find((m) => m.alias === 'main')!;
    assert.equal(main.configured, 'claude-sonnet-4-5');
    assert.match(main.source, /^local settings/);
    assert.equal(r.models.find((m) => m.alias === 'haiku')!.configured, 'claude-haiku-5-5');
    assert.match(r.models.find((m) => m.alias === 'haiku')!.source, /^managed settings/);
  });

  it('credential precedence: auth token > API key > apiKeyHelper > OAuth token > subscription', () => {
    const base = { ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5' };
    assert.equal(
      doctor({ env: { ...base, ANTHROPIC_AUTH_TOKEN: 'a', ANTHROPIC_API_KEY: 'b' }, user: { apiKeyHelper: 'echo c' } }).credential.kind,
      'ANTHROPIC_AUTH_TOKEN',
    );
    assert.equal(doctor({ env: { ...base, ANTHROPIC_API_KEY: 'b' }, user: { apiKeyHelper: 'echo c' } }).credential.kind, 'ANTHROPIC_API_KEY');
    assert.equal(doctor({ env: { ...base, CLAUDE_CODE_OAUTH_TOKEN: 'o' }, user: { apiKeyHelper: 'echo c' } }).credential.kind, 'apiKeyHelper');
    assert.equal(doctor({ env: { ...base, CLAUDE_CODE_OAUTH_TOKEN: 'o' } }).credential.kind, 'CLAUDE_CODE_OAUTH_TOKEN');
    assert.equal(doctor({ env: base, loggedIn: true }).credential.kind, 'subscription (/login)');
    assert.equal(doctor({ env: { ...base, ANTHROPIC_API_KEY: 'b', CLAUDE_CODE_USE_VERTEX: '1' } }).provider, 'vertex');
  });

  it('reports clean configurations for each route as clean (exit 0)', () => {
    const clean: Fixture[] = [
      { env: { ANTHROPIC_API_KEY: 'sk-ant-k', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5-20251001' } },
      { env: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5' }, user: { apiKeyHelper: 'tollgate-key' } },
      { env: { CLAUDE_CODE_USE_BEDROCK: '1', AWS_REGION: 'eu-west-1', AWS_PROFILE: 'dev', ...PINNED_BEDROCK_EU } },
      {
        env: {
          CLAUDE_CODE_USE_VERTEX: '1',
          CLOUD_ML_REGION: 'us-east5',
          ANTHROPIC_VERTEX_PROJECT_ID: 'proj-a',
          GOOGLE_APPLICATION_CREDENTIALS: '$ROOT/sa.json',
          ...PINNED_VERTEX,
        },
        files: ADC,
      },
    ];
    for (const f of clean) {
      const r = doctor(f);
      assert.deepEqual(r.findings, [], JSON.stringify(f.env));
      assert.equal(exitCode(r), 0);
    }
  });

  it('the CLI prints the report, JSON on request, and exits 0/1/2; secrets never appear', () => {
    const s = scratch({});
    const run = (env: Record<string, string>, extra: string[] = []) =>
      tollgate(['doctor', '--home', s.home, '--cwd', s.cwd, '--managed-settings', s.managed, ...extra], {
        env: { HOME: s.home, PATH: process.env.PATH ?? '', ...env },
      });
    const clean = run({
      ANTHROPIC_API_KEY: 'sk-ant-very-secret',
      ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-4-5',
      ANTHROPIC_BASE_URL: '',
      CLAUDE_CODE_USE_BEDROCK: '',
      CLAUDE_CODE_USE_VERTEX: '',
    });
    assert.equal(clean.status, 0, clean.stdout);
    assert.match(clean.stdout, /credential: ANTHROPIC_API_KEY \(from your shell\) sha256:/);
    assert.ok(!clean.stdout.includes('sk-ant-very-secret'));
    const warn = run({ ANTHROPIC_API_KEY: 'k' });
    assert.equal(warn.status, 1);
    const err = run({ CLAUDE_CODE_USE_BEDROCK: '1' }, ['--json']);
    assert.equal(err.status, 2);
    const j = JSON.parse(err.stdout) as DoctorReport;
    assert.equal(j.provider, 'bedrock');
    assert.ok(j.findings.some((f) => f.code === 'AWS_REGION_MISSING'));
  });
});

describe('setup', () => {
  const forms: { args: string[]; env: Record<string, string>; expect: Record<string, string> }[] = [
    { args: ['--route', 'anthropic'], env: { ANTHROPIC_API_KEY: 'k' }, expect: { ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-5-5' } },
    {
      args: ['--route', 'gateway', '--gateway-url', 'http://127.0.0.1:8787', '--key-helper', 'my-secret-manager get tollgate'],
      env: {},
      expect: { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8787', CLAUDE_CODE_USE_BEDROCK: '0' },
    },
    {
      args: ['--route', 'bedrock', '--region', 'us-east-1'],
      env: { AWS_PROFILE: 'dev' },
      expect: { ANTHROPIC_DEFAULT_SONNET_MODEL: 'us.anthropic.claude-sonnet-5-5', AWS_REGION: 'us-east-1' },
    },
    {
      args: ['--route', 'bedrock', '--region', 'eu-west-1'],
      env: { AWS_PROFILE: 'dev' },
      expect: { ANTHROPIC_DEFAULT_OPUS_MODEL: 'eu.anthropic.claude-opus-5-5' },
    },
    {
      args: ['--route', 'bedrock', '--region', 'ap-northeast-1'],
      env: { AWS_PROFILE: 'dev' },
      expect: { ANTHROPIC_DEFAULT_HAIKU_MODEL: 'apac.anthropic.claude-haiku-5-5' },
    },
    {
      args: ['--route', 'bedrock', '--region', 'us-west-2', '--profile', 'global'],
      env: { AWS_PROFILE: 'dev' },
      expect: { ANTHROPIC_DEFAULT_SONNET_MODEL: 'global.anthropic.claude-sonnet-5-5' },
    },
    {
      args: ['--route', 'bedrock', '--region', 'eu-central-1', '--profile', 'regional', '--haiku', 'claude-haiku-4-5'],
      env: { AWS_PROFILE: 'dev' },
      expect: { ANTHROPIC_DEFAULT_HAIKU_MODEL: 'anthropic.claude-haiku-4-5-20251001-v1:0' },
    },
    { args: ['--route', 'vertex', '--project', 'proj-a'], env: {}, expect: { CLOUD_ML_REGION: 'global', ANTHROPIC_DEFAULT_HAIKU_MODEL: 'claude-haiku-5-5' } },
    { args: ['--route', 'vertex', '--project', 'proj-a', '--region', 'us'], env: {}, expect: { CLOUD_ML_REGION: 'us' } },
    {
      args: ['--route', 'vertex', '--project', 'proj-a', '--region', 'eu', '--sonnet', 'claude-sonnet-4-5'],
      env: {},
      expect: { ANTHROPIC_DEFAULT_SONNET_MODEL: 'claude-sonnet-4-5@20250929' },
    },
    { args: ['--route', 'vertex', '--project', 'proj-a', '--region', 'us-east5'], env: {}, expect: { ANTHROPIC_VERTEX_PROJECT_ID: 'proj-a' } },
  ];

  for (const f of forms) {
    it(`writes settings that pass the doctor: ${f.args.join(' ')}`, () => {
      const s = scratch({ files: ADC });
      writeFileSync(
        join(s.home, '.claude', 'settings.json'),
        JSON.stringify({ theme: 'dark', env: { ANTHROPIC_SMALL_FAST_MODEL: 'old', ANTHROPIC_BEDROCK_BASE_URL: 'https://stale' } }),
      );
      const env = { HOME: s.home, PATH: process.env.PATH ?? '', GOOGLE_APPLICATION_CREDENTIALS: join(s.home, '..', 'sa.json'), ...f.env };
      const r = tollgate(['setup', ...f.args, '--home', s.home, '--cwd', s.cwd, '--managed-settings', s.managed], { env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /no problems found/);
      const written = JSON.parse(readFileSync(join(s.home, '.claude', 'settings.json'), 'utf8')) as {
        theme: string;
        env: Record<string, string>;
        apiKeyHelper?: string;
      };
      assert.equal(written.theme, 'dark', 'other settings kept');
      for (const [k, v] of Object.entries(f.expect)) assert.equal(written.env[k], v, k);
      for (const a of ['OPUS', 'SONNET', 'HAIKU']) assert.ok(written.env[`ANTHROPIC_DEFAULT_${a}_MODEL`], `${a} pinned`);
      assert.equal(written.env.ANTHROPIC_SMALL_FAST_MODEL, undefined, 'deprecated variable migrated away');
      // The doctor run separately agrees.
      const d = tollgate(['doctor', '--home', s.home, '--cwd', s.cwd, '--managed-settings', s.managed], { env });
      assert.equal(d.status, 0, d.stdout);
    });
  }

  it('prints shell exports and managed settings without writing; mints a key into a 0600 file for the gateway', async () => {
    const s = scratch({});
    let r = tollgate(['setup', '--route', 'bedrock', '--region', 'eu-west-1', '--target', 'shell', '--home', s.home, '--managed-settings', s.managed], {
      env: { AWS_PROFILE: 'dev', HOME: s.home },
    });
    assert.match(r.stdout, /^export CLAUDE_CODE_USE_BEDROCK='1'$/m);
    assert.match(r.stdout, /^export ANTHROPIC_DEFAULT_HAIKU_MODEL='eu\.anthropic\.claude-haiku-5-5'$/m);
    const out = join(s.home, '..', 'managed.json');
    r = tollgate(['setup', '--route', 'vertex', '--project', 'p', '--target', 'managed', '--out', out, '--home', s.home], { env: { HOME: s.home } });
    assert.equal((JSON.parse(readFileSync(out, 'utf8')) as { env: Record<string, string> }).env.CLAUDE_CODE_USE_VERTEX, '1');
    r = tollgate(['setup', '--route', 'bedrock', '--home', s.home]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--region is required/);

    const fake = await new FakeAnthropic().start();
    const gw = await startGateway(upstreamYaml(fake.url));
    try {
      r = await tollgateAsync(
        [
          'setup',
          '--route',
          'gateway',
          '--gateway-url',
          gw.url,
          '--mint',
          '--user',
          'nina',
          '--team',
          'web',
          '--config',
          gw.configFile,
          '--home',
          s.home,
          '--cwd',
          s.cwd,
          '--managed-settings',
          s.managed,
        ],
        { env: { HOME: s.home, ANTHROPIC_API_KEY: '', ANTHROPIC_AUTH_TOKEN: '' } },
      );
      assert.equal(r.status, 0, r.stderr);
      const settings = readFileSync(join(s.home, '.claude', 'settings.json'), 'utf8');
      assert.ok(!/tg_[A-Za-z0-9_-]{20,}/.test(settings), 'no key in settings.json');
      const keyFile = join(s.home, '.config', 'tollgate', 'key');
      assert.equal((JSON.parse(settings) as { apiKeyHelper: string }).apiKeyHelper, `cat ${keyFile}`);
      const { statSync } = await import('node:fs');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      // --probe proves the path: through tollgate, with the route that served it.
      const p = await tollgateAsync(['doctor', '--probe', '--json', '--home', s.home, '--cwd', s.cwd, '--managed-settings', s.managed], {
        env: { HOME: s.home, ANTHROPIC_API_KEY: '', ANTHROPIC_AUTH_TOKEN: '' },
      });
      const j = JSON.parse(p.stdout) as { probe: { ok: boolean; route: string; upstream: string; model: string; latency_ms: number } };
      assert.equal(j.probe.ok, true, p.stdout);
      assert.equal(j.probe.route, 'anthropic');
      assert.equal(j.probe.upstream, 'anthropic');
      assert.equal(j.probe.model, 'claude-haiku-5-5');
      assert.ok(gw.gw.ctx.store.queryLedger({ user: 'nina' }).length === 1);
    } finally {
      await gw.stop();
      await fake.stop();
    }
  });
});
