// Waits until seqd's /ready answers 200 (systemd's ExecStartPost: the unit counts as started
// only then). SEQD_READY_URL names it; a loopback HTTPS URL accepts seqd's own certificate.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const url = new URL(process.env.SEQD_READY_URL ?? 'http://127.0.0.1:8080/ready');
const deadline = Date.now() + Number(process.env.SEQD_READY_TIMEOUT_MS ?? 60_000);
const get = url.protocol === 'https:' ? httpsGet : httpGet;
const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);

function ready() {
  return new Promise((resolve) => {
    const req = get(url, { rejectUnauthorized: !loopback, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

while (!(await ready())) {
  if (Date.now() > deadline) {
    console.error(`seqd: ${url.href} did not answer 200 in time`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 250));
}
