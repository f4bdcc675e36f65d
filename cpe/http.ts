/**
 * The CPE's HTTP server (fastify): the event log's query API and live
 * stream, the deployables' status, and a read-only web view at `/`. Every
 * request is validated against the schemas in http-routes.ts (unknown
 * query parameters included); a token, when set, is required on /api/.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { isLoopback } from '../lib/bus/bus.js';
import { CpeError, errorMessage } from '../lib/errors.js';
import { MAX_LIMIT, parseEventQuery, type EventQuery } from '../lib/events/filter.js';
import type { Logger } from '../lib/log.js';
import { packageRoot } from '../lib/paths.js';
import { ApiCode, type CpeApi } from './api.js';
import type { EventPipeline } from './event-pipeline.js';
import { eventJson, queryEvents } from './event-query.js';
import { openApiDocument, ROUTES, type RouteSpec } from './http-routes.js';

export interface HttpOptions {
  readonly host: string;
  readonly port: number;
  /** Required on /api/ when set; must be set to listen beyond loopback. */
  readonly token: string | null;
  readonly api: CpeApi;
  readonly events: EventPipeline;
  readonly log: Logger;
}

/** A stream whose client reads slower than events come is ended (it resumes with Last-Event-ID). */
const STREAM_BUFFER_BYTES = 1024 * 1024;
const KEEPALIVE_MS = 15_000;

function statusOf(code: string): number {
  if (code === ApiCode.unknownDeployable) return 404;
  if (code === 'UNAUTHORIZED') return 401;
  if (code === 'BAD_FILTER' || code === 'BAD_ARGUMENT') return 400;
  return 500;
}

/** Ajv's first complaint in words: an unknown parameter is named, not "additional properties". */
function validationMessage(err: Error & { validation?: unknown }): string {
  const first = (err.validation as { keyword?: string; params?: Record<string, unknown> }[])[0];
  const extra =
    first?.keyword === 'additionalProperties' ? first.params?.additionalProperty : undefined;
  return typeof extra === 'string' ? `unknown parameter "${extra}"` : err.message;
}

function sameToken(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class HttpServer {
  private constructor(
    private readonly app: FastifyInstance,
    readonly url: string,
  ) {}

  static async start(o: HttpOptions): Promise<HttpServer> {
    if (!o.token && !isLoopback(o.host))
      throw new CpeError(
        'HTTP_TOKEN_REQUIRED',
        `http.host ${o.host} is beyond loopback: set http.tokenFile (a file holding the bearer token), or listen on 127.0.0.1`,
      );
    const app = Fastify({
      logger: false,
      forceCloseConnections: true,
      // Unknown query parameters are refused, not silently removed; "1" is an integer.
      ajv: { customOptions: { removeAdditional: false, coerceTypes: true, useDefaults: false } },
    });
    const page = readFileSync(join(packageRoot(), 'cpe', 'web', 'index.html'), 'utf8');
    app.addHook('onRequest', async (req, reply) => {
      // The route matched, not the raw URL: /%61pi/… reaches /api/… too.
      if (!o.token || !(req.routeOptions.url ?? req.url).startsWith('/api/')) return;
      const header = req.headers.authorization;
      const given = header?.startsWith('Bearer ')
        ? header.slice(7)
        : new URL(req.url, 'http://x').searchParams.get('access_token');
      if (given === null || given === undefined || !sameToken(given, o.token)) {
        await reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ code: 'UNAUTHORIZED', message: 'a bearer token is required (http.tokenFile)' });
      }
    });
    app.setErrorHandler(
      (err: Error & { validation?: unknown; statusCode?: number }, req, reply) => {
        if (err.validation) {
          const spec = Object.values(ROUTES).find((r) => r.url === req.routeOptions.url) as
            RouteSpec | undefined;
          return reply
            .code(400)
            .send({ code: spec?.badRequest ?? 'BAD_ARGUMENT', message: validationMessage(err) });
        }
        if (err instanceof CpeError)
          return reply.code(statusOf(err.code)).send({ code: err.code, message: err.message });
        if (err.statusCode !== undefined && err.statusCode < 500)
          return reply.code(err.statusCode).send({ code: 'BAD_REQUEST', message: err.message });
        o.log.error('HTTP request failed', { url: req.url, error: errorMessage(err) });
        return reply
          .code(500)
          .send({ code: 'INTERNAL_ERROR', message: 'the CPE failed; see its log' });
      },
    );
    app.setNotFoundHandler((req, reply) =>
      reply
        .code(404)
        .send({ code: 'NOT_FOUND', message: `no ${req.method} ${req.url.split('?')[0]}` }),
    );

    const route = (
      spec: RouteSpec,
      handler: (req: FastifyRequest, reply: FastifyReply) => unknown,
    ): void =>
      void app.route({
        method: spec.method,
        url: spec.url,
        schema: {
          ...(spec.querystring ? { querystring: spec.querystring } : {}),
          ...(spec.params ? { params: spec.params } : {}),
        },
        handler,
      });

    route(ROUTES.events, async (req) => {
      const q = parseEventQuery(req.query as Record<string, unknown>, Date.now());
      const a = await queryEvents(o.events, q);
      return { events: a.events.map(eventJson), next_cursor: a.nextCursor, last_seq: a.lastSeq };
    });
    route(ROUTES.stream, (req, reply) => stream(o.events, req, reply));
    route(ROUTES.deployables, async () => ({ deployables: await o.api.statusAll() }));
    route(ROUTES.deployable, (req) => o.api.status((req.params as { name: string }).name));
    app.get('/api/v1/openapi.json', () => openApiDocument());
    app.get('/', (_req, reply) => reply.type('text/html; charset=utf-8').send(page));

    try {
      await app.listen({ host: o.host, port: o.port });
    } catch (err) {
      await app.close();
      throw new CpeError(
        'HTTP_LISTEN_FAILED',
        `cannot listen on ${o.host}:${o.port} for the HTTP API (${errorMessage(err)}): set http.port, or --no-http-enabled`,
      );
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : o.port;
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    return new HttpServer(
      app,
      `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`,
    );
  }

  async close(): Promise<void> {
    await this.app.close();
  }
}

/** GET /api/v1/events/stream: catch up from Last-Event-ID, then every batch as it is stored. */
function stream(events: EventPipeline, req: FastifyRequest, reply: FastifyReply): void {
  const query = req.query as Record<string, unknown>;
  const afterArg = query.after;
  const filters = Object.fromEntries(
    Object.entries(query).filter(([k]) => k !== 'access_token' && k !== 'after'),
  );
  const lastId = req.headers['last-event-id'];
  if (lastId !== undefined && !/^\d{1,15}$/.test(String(lastId)))
    throw new CpeError('BAD_FILTER', 'Last-Event-ID: expected an event seq');
  const base: EventQuery = {
    ...parseEventQuery(filters, Date.now()),
    follow: true,
    limit: MAX_LIMIT,
  };
  let after =
    lastId !== undefined
      ? Number(lastId)
      : typeof afterArg === 'number'
        ? afterArg
        : events.store.lastSeq();
  const raw = reply.raw;
  reply.hijack();
  if (events.closed) {
    raw.writeHead(503).end();
    return;
  }
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 2000\n\n');
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    stop();
    clearInterval(keepalive);
    raw.end();
  };
  const pump = (): void => {
    if (events.closed) return end();
    for (;;) {
      const a = events.store.query({ ...base, after });
      for (const e of a.events)
        raw.write(`id: ${e.seq}\ndata: ${JSON.stringify(eventJson(e))}\n\n`);
      after = a.lastSeq;
      if (raw.writableLength > STREAM_BUFFER_BYTES) return end();
      if (a.events.length < MAX_LIMIT) return;
    }
  };
  const stop = events.follow(() => {
    if (!ended) pump();
  });
  const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS);
  req.raw.on('close', end);
  pump();
}
