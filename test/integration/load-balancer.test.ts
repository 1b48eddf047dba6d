import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadBalancerSuite } from '../helpers/load-balancer-suite.js';

const CFG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

// deploy/haproxy/haproxy.cfg as shipped: active health checks on /ready, re-sending only what
// cannot take numbers twice. The compose stack mounts this very file.
loadBalancerSuite({
  name: 'HAProxy (deploy/haproxy/haproxy.cfg)',
  missing: () => {
    if (spawnSync('haproxy', ['-v']).status === 0) return null;
    const reason = 'haproxy is not installed (Debian: apt-get install haproxy; npm test installs it as root)';
    if (process.env.CI === 'true') throw new Error(`CI needs haproxy: ${reason}`);
    return reason;
  },
  start: async ({ a, b, bind }) => {
    const child = spawn('haproxy', ['-db', '-f', CFG], { env: { ...process.env, SEQD_A: a, SEQD_B: b, HAPROXY_BIND: bind }, stdio: 'ignore' });
    return { stop: () => child.kill('SIGKILL') };
  },
});
