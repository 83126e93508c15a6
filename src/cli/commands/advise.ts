// tollgate advise seats | route
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { adviseRoute, loadSeatPlans, missingRouteAnswer, type RouteQuestions } from '../../reports/advisors.js';
import { generateSettings } from '../../clientconfig/setup.js';
import { loadCatalog } from '../../routing/catalog.js';
import { parseTime, wallClock } from '../../util/time.js';
import { formatUsdAmount } from '../../metering/prices.js';
import { openConfig, openStore, out, table, UsageError, type GlobalOpts } from '../shared.js';
import { seatReport, type SeatReport } from '../../reports/queries.js';
import { admin } from '../remote.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  const advise = program.command('advise').description('advisors: seat or metered per user, and which billing route');

  advise
    .command('seats')
    .description('per user, metered cost vs the seat plans (data/seat-plans.json), with the usage shape; a hybrid for the team')
    .option('--since <time>', 'period start (default: 30d)', '30d')
    .option('--until <time>', 'period end (default: now)')
    .option('--team <team>', 'only this team')
    .option('--plans <file>', 'seat plans file (same format as data/seat-plans.json)')
    .option('--individual', 'also consider individual plans (Pro, Max): by default company engineers get team plans')
    .option('--json')
    .action(async (o: { since: string; until?: string; team?: string; plans?: string; individual?: boolean; json?: boolean }) => {
      const since = parseTime(o.since);
      const until = o.until ? parseTime(o.until) : wallClock();
      if (until <= since) throw new UsageError('--until must be after --since');
      const g = globals();
      let r: SeatReport;
      if (g.url) {
        if (o.plans) throw new UsageError('--plans: with --url the gateway uses its own seat plans');
        r = (await admin(g.url, 'GET', '/admin/advice/seats', undefined, {
          query: { since: new Date(since).toISOString(), until: new Date(until).toISOString(), team: o.team, individual: o.individual },
        })) as SeatReport;
      } else {
        let plans;
        try {
          plans = loadSeatPlans(o.plans);
        } catch (err) {
          throw new UsageError(`seat plans: ${(err as Error).message}`);
        }
        const store = openStore(openConfig(g));
        try {
          r = seatReport(store, plans, { since, until, team: o.team, individual: o.individual, plansFile: o.plans });
        } finally {
          store.close();
        }
      }
      const { users: advice, team: summary, assumptions } = r;
      if (o.json) return out(JSON.stringify({ users: advice, team: summary, assumptions }, null, 2));
      out(
        table(
          ['USER', 'METERED $/MONTH', 'ACTIVE DAYS', 'SPREAD', 'ADVICE', 'PLAN', 'SAVES $/MONTH', 'WHY'],
          advice.map((a) => [
            a.user,
            formatUsdAmount(a.metered_usd_per_month, 2),
            `${a.active_days}/${a.working_days}`,
            a.spread.toFixed(2),
            a.recommendation,
            a.plan,
            formatUsdAmount(a.saving_usd_per_month, 2),
            a.reason,
          ]),
        ),
      );
      out(
        `team: ${
          Object.entries(summary.seats)
            .map(([p, n]) => `${n} × ${p}`)
            .join(', ') || 'no seats'
        }, ${summary.metered_users} metered; $${summary.seats_usd_per_month + summary.metered_usd_per_month} vs $${summary.all_metered_usd_per_month} all metered (saves $${summary.saving_usd_per_month}/month)`,
      );
      out('assumptions:\n' + assumptions.map((a) => `  - ${a}`).join('\n'));
    });

  advise
    .command('route')
    .description('which billing route: answers the decision questions (asks when a flag is missing and this is a terminal)')
    .option('--stage <stage>', 'evaluation | steady')
    .option('--usage <shape>', 'even | uneven')
    .option('--cloud <cloud>', 'aws | gcp | none')
    .option('--residency <region>', 'a data-residency requirement (e.g. eu, eu-central-1, europe-west4)')
    .option('--chargeback', 'spend must be charged back to teams or projects')
    .option('--no-chargeback', 'no chargeback requirement')
    .option('--gateway-url <url>', 'tollgate URL for the printed Claude Code settings', 'http://127.0.0.1:8787')
    .option('--json')
    // --chargeback / --no-chargeback; neither: unanswered (asked in a terminal, else no).
    .action(async (o: { stage?: string; usage?: string; cloud?: string; residency?: string; chargeback?: boolean; gatewayUrl: string; json?: boolean }) => {
      const askFree = async (q: string): Promise<string> => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          return await rl.question(`${q}: `);
        } finally {
          rl.close();
        }
      };
      const ask = async (q: string, allowed: string[]): Promise<string> => {
        if (!process.stdin.isTTY) throw new UsageError(`${q}: give it as a flag (${allowed.join(' | ')}) when not running in a terminal`);
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          for (;;) {
            const a = (await rl.question(`${q} [${allowed.join('/')}]: `)).trim();
            if (allowed.includes(a)) return a;
          }
        } finally {
          rl.close();
        }
      };
      const check = (v: string | undefined, allowed: string[], flag: string) => {
        if (v !== undefined && !allowed.includes(v)) throw new UsageError(`--${flag} ${v}: ${allowed.join(' | ')}`);
        return v;
      };
      const interactive = Boolean(process.stdin.isTTY);
      // Hard constraints first: they can decide on their own, before stage or usage matter.
      let residency = o.residency;
      if (residency === undefined && interactive) {
        const a = (await askFree('--residency: must inference stay in a region? (a region such as eu or eu-central-1, or none)')).trim();
        residency = a && a !== 'none' ? a : undefined;
      }
      let chargeback = o.chargeback;
      if (chargeback === undefined && interactive)
        chargeback = (await ask('--chargeback: must spend be charged back to teams or projects', ['yes', 'no'])) === 'yes';
      const q: Partial<RouteQuestions> = {
        residency,
        chargeback: Boolean(chargeback),
        cloud: check(o.cloud, ['aws', 'gcp', 'none'], 'cloud') as RouteQuestions['cloud'] | undefined,
        stage: check(o.stage, ['evaluation', 'steady'], 'stage') as RouteQuestions['stage'] | undefined,
        usage: check(o.usage, ['even', 'uneven'], 'usage') as RouteQuestions['usage'] | undefined,
      };
      const questions = {
        cloud: ['--cloud: an existing cloud contract', ['aws', 'gcp', 'none']],
        stage: ['--stage: still evaluating, or steady use', ['evaluation', 'steady']],
        usage: ['--usage: is use spread evenly across the team', ['even', 'uneven']],
      } as const;
      // With a residency requirement the cloud picks the region's route: asked in a terminal,
      // else Bedrock is assumed (and said so).
      if (q.cloud === undefined && residency)
        q.cloud = interactive ? ((await ask(questions.cloud[0], [...questions.cloud[1]])) as RouteQuestions['cloud']) : 'none';
      for (let next = missingRouteAnswer(q); next; next = missingRouteAnswer(q)) {
        const [text, allowed] = questions[next];
        (q as Record<string, string>)[next] = await ask(text, [...allowed]);
      }
      const a = adviseRoute(q as RouteQuestions);
      const name = a.route === 'bedrock' ? 'bedrock-main' : a.route === 'vertex' ? 'vertex-main' : 'anthropic';
      const upstream =
        a.route === 'bedrock'
          ? `  - { name: ${name}, type: bedrock, region: ${a.region}, profile: ${q.residency ? 'geo' : 'global'} }`
          : a.route === 'vertex'
            ? `  - { name: ${name}, type: vertex, project: <your-gcp-project>, region: ${a.region} }`
            : '  - { name: anthropic, type: anthropic, api_key: "${ANTHROPIC_API_KEY}" }';
      const config = a.route === 'seats' ? null : `upstreams:\n${upstream}\nroutes:\n  default: [${name}]\n`;
      const settings = a.route === 'seats' ? null : generateSettings({ route: 'gateway', gatewayUrl: o.gatewayUrl }, loadCatalog());
      if (o.json) return out(JSON.stringify({ ...a, answers: q, tollgate_config: config, claude_code_settings: settings }, null, 2));
      out(
        `recommended: ${a.route === 'seats' ? 'per-seat plans (no gateway route needed for those users)' : `${a.route}${a.region ? ` in ${a.region}` : ''}, through tollgate`}`,
      );
      for (const r of a.reasons) out(`  - ${r}`);
      if (config) out(`\ntollgate config (tollgate.yaml):\n${config}`);
      if (settings)
        out(`Claude Code settings (~/.claude/settings.json or managed settings; key via apiKeyHelper):\n${JSON.stringify({ env: settings.env }, null, 2)}`);
    });
}
