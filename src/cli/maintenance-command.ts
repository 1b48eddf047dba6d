import { Argument, type Command } from 'commander';
import { adminRequest, failAdmin } from './admin-api.js';

/**
 * `seqd maintenance on|off`: switches the store's maintenance through a running instance (role
 * admin). The switch is audited; while it is on every instance refuses to commit anything else.
 */
export function maintenanceCommand(program: Command): void {
  program
    .command('maintenance')
    .description('switch maintenance on (the store issues, releases and confirms nothing) or off; audited')
    .addArgument(new Argument('<state>', 'on or off').choices(['on', 'off']))
    .requiredOption('--reason <text>', 'why (written into the audit trail)')
    .option('--url <url>', 'a running seqd (env SEQD_URL; default http://127.0.0.1:8080)')
    .option('--api-key <key>', 'an API key with role admin, when the server requires keys (env SEQD_API_KEY)')
    .action(async (state: 'on' | 'off', o: { reason: string; url?: string; apiKey?: string }) => {
      try {
        const res = await adminRequest(o, 'POST', '/api/v1/admin/maintenance', { enabled: state === 'on', reason: o.reason });
        const settings = (await res.json()) as { maintenance?: boolean };
        console.log(settings.maintenance ? 'maintenance is on: the store commits nothing until it is switched off' : 'maintenance is off: numbers are issued again');
      } catch (error) {
        failAdmin(error);
      }
    });
}
