// A ceiling for the vault proxy (scenario 6): the least a Node proxy can do, node:http in front of
// an undici keep-alive pool, every request passed on with its path and Authorization header (the
// load generator sends the upstream token itself), the answer streamed back. No authentication,
// no store, no framework: what the vault's proxy costs beyond it is Latchkey's own work; what it
// costs against the upstream called directly is also the hop itself.
import { createServer } from 'node:http';
import { Agent } from 'undici';
import { closeServer, listenOnLoopback } from './loopback.js';

export async function startPassthroughBench(
  upstream: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const agent = new Agent({ keepAliveTimeout: 30_000 });
  const origin = new URL(upstream).origin;
  const server = createServer((req, res) => {
    agent
      .request({
        origin,
        path: req.url ?? '/',
        method: req.method === 'HEAD' ? 'HEAD' : 'GET',
        headers: req.headers.authorization ? { authorization: req.headers.authorization } : {},
      })
      .then((answer) => {
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && name !== 'connection' && name !== 'keep-alive') headers[name] = value;
        }
        res.writeHead(answer.statusCode, headers);
        answer.body.pipe(res);
      })
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    async close() {
      await closeServer(server);
      await agent.close();
    },
  };
}
