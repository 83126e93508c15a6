// tollgate config check|schema
import type { Command } from 'commander';
import { z } from 'zod';
import { configSchema } from '../../config/schema.js';
import { redactUrl } from '../../util/redact.js';
import { openConfig, out, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  const config = program.command('config').description('check or describe the configuration');
  config
    .command('check')
    .description('validate the config file and report every problem at once')
    .action(() => {
      const loaded = openConfig(globals());
      out(`${loaded.file ?? '(defaults)'}: OK`);
      for (const u of loaded.config.upstreams) {
        const where =
          u.type === 'anthropic'
            ? u.base_url
            : (u.base_url ??
              (u.type === 'bedrock' || u.type === 'mantle'
                ? `region ${u.region}`
                : u.type === 'vertex'
                  ? `project ${u.project}, region ${u.region}`
                  : `resource ${u.resource ?? ''}`));
        out(`upstream ${u.name} (${u.type}): ${redactUrl(where)}`);
      }
      for (const v of loaded.missingEnv) out(`warning: $${v} is not set`);
    });
  config
    .command('schema')
    .description('print the JSON Schema of the config (for editors)')
    .action(() => {
      out(JSON.stringify(z.toJSONSchema(configSchema, { io: 'input' }), null, 2));
    });
}
