// tollgate migrate: bring the store's schema up to this version (PostgreSQL: the versioned
// migrations, under a lock, so it is safe while replicas run; SQLite migrates on every open).
import type { Command } from 'commander';
import { PostgresStore } from '../../store/postgres/index.js';
import { pgMigrations } from '../../store/postgres/schema.js';
import { describeStore, openStore } from '../../store/open.js';
import { openConfig, out, type GlobalOpts } from '../shared.js';

export function register(program: Command, globals: () => GlobalOpts): void {
  program
    .command('migrate')
    .description("apply the store's missing schema migrations (PostgreSQL: run once per upgrade, before or while replicas run)")
    .option('--status', 'only say which version the store is at and how many migrations are missing')
    .action((o: { status?: boolean }) => {
      const loaded = openConfig(globals());
      const where = describeStore(loaded);
      if (!loaded.config.store.postgres) {
        // SQLite applies its migrations whenever the file is opened: opening it is migrating it.
        openStore(loaded).close();
        out(`${where}: SQLite migrates itself when opened; it is up to date`);
        return;
      }
      const store = new PostgresStore(loaded.config.store.postgres, { migrate: false, allowBehind: true });
      try {
        const before = store.schemaVersion();
        if (o.status) {
          const missing = pgMigrations.length - before;
          out(`${where}: schema version ${before} of ${pgMigrations.length}${missing > 0 ? ` (${missing} to apply: tollgate migrate)` : ', up to date'}`);
          return;
        }
        const applied = store.migrate();
        out(
          applied.length
            ? `${where}: applied migration${applied.length > 1 ? 's' : ''} ${applied.join(', ')}; schema version ${store.schemaVersion()}`
            : `${where}: schema version ${before}, up to date`,
        );
      } finally {
        store.close();
      }
    });
}
