// A node:http stand-in for PagerDuty's Events API v2 on 127.0.0.1 (port 0), for the benchmark.
// It answers like PagerDuty (202 {status, message, dedup_key}; 429 with the throttle body) and
// keeps a compact log of what arrived, so the bench can count events and check their order.
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';

const PATH = '/v2/enqueue';
const THROTTLE = { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' };

/**
 * `policy(index, body)` returns the status to answer (202 or 429); the default accepts everything.
 * `log` holds one entry per request: { at (performance.now() of this process), status, dedupKey, action }.
 */
export function startStandIn() {
  let policy = () => 202;
  const log = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      const known = req.method === 'POST' && req.url === PATH;
      const status = known ? policy(log.length, body) : 404;
      log.push({ at: performance.now(), status, dedupKey: body?.dedup_key, action: body?.event_action });
      const answer =
        status === 202
          ? { status: 'success', message: 'Event processed', dedup_key: body?.dedup_key }
          : status === 429
            ? THROTTLE
            : { status: 'not found', message: `No route ${req.method} ${req.url}` };
      const text = JSON.stringify(answer);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}${PATH}`,
        log,
        setPolicy(fn) {
          policy = fn;
        },
        /** Forget the log and go back to accepting everything. */
        reset() {
          log.length = 0;
          policy = () => 202;
        },
        close() {
          return new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
        },
      });
    });
  });
}
