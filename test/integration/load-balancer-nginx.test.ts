import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBalancerSuite } from '../helpers/load-balancer-suite.js';

const TEMPLATE = fileURLToPath(new URL('../../deploy/nginx/seqd.conf.template', import.meta.url));

// deploy/nginx/seqd.conf.template as shipped, filled in as the official nginx image does
// (envsubst of ${SEQD_A}, ${SEQD_B}, ${NGINX_LISTEN}), inside a minimal nginx.conf.
loadBalancerSuite({
  name: 'nginx (deploy/nginx/seqd.conf.template)',
  missing: () => {
    if (spawnSync('nginx', ['-v']).status === 0) return null;
    const reason = 'nginx is not installed (Debian: apt-get install nginx-light; npm test installs it as root)';
    if (process.env.CI === 'true') throw new Error(`CI needs nginx: ${reason}`);
    return reason;
  },
  start: async ({ a, b, bind, dir }) => {
    const vars: Record<string, string> = { SEQD_A: a, SEQD_B: b, NGINX_LISTEN: bind };
    const site = readFileSync(TEMPLATE, 'utf8').replace(/\$\{(SEQD_A|SEQD_B|NGINX_LISTEN)\}/g, (_m, name: string) => vars[name] ?? '');
    writeFileSync(join(dir, 'seqd.conf'), site);
    const tmp = (name: string) => `${name} ${join(dir, `nginx-${name}`)};`;
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        'error_log stderr error;',
        'events { worker_connections 512; }',
        'http {',
        '  access_log off;',
        `  ${tmp('client_body_temp_path')} ${tmp('proxy_temp_path')} ${tmp('fastcgi_temp_path')} ${tmp('uwsgi_temp_path')} ${tmp('scgi_temp_path')}`,
        `  include ${join(dir, 'seqd.conf')};`,
        '}',
      ].join('\n'),
    );
    const check = spawnSync('nginx', ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx -t refused the configuration:\n${check.stderr}`);
    const child = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    // SIGTERM: the master stops its workers (after a SIGKILL they would outlive it).
    return { stop: () => child.kill('SIGTERM') };
  },
});
