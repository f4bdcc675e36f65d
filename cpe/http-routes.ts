/**
 * The HTTP API's routes as data: the server registers them with these
 * schemas (fastify validates every request against them), and the OpenAPI
 * document (schemas/openapi.json, `npm run openapi`) is made from the same
 * table, so the two cannot drift.
 */
import { eventFilterSchema, EVENT_FILTERS } from '../lib/events/filter.js';
import { packageVersion } from '../lib/paths.js';

const NAME = { type: 'string', pattern: EVENT_FILTERS.deployable.pattern };

const ERROR = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
};

const EVENT = {
  type: 'object',
  properties: {
    seq: { type: 'integer', description: "the CPE's order of arrival; the SSE event id" },
    id: { type: 'string', description: "the sender's id (a UUID)" },
    time: { type: 'string', format: 'date-time', description: 'when it happened' },
    stored: { type: 'string', format: 'date-time', description: 'when the CPE stored it' },
    deployable: { type: ['string', 'null'] },
    assembly: { type: ['string', 'null'] },
    service: { type: ['string', 'null'] },
    kind: { type: 'string', description: 'the event class (schemas/cpe-api.md, "Events")' },
    state: { type: ['string', 'null'] },
    severity: { type: 'string', enum: EVENT_FILTERS.severity.enum },
    source: { type: 'string', description: '`cpe` or `dpe.NAME`' },
    text: { type: 'string', description: 'one line for people' },
    values: { type: 'object', description: 'everything the event carried' },
  },
};

/** The stream takes the filters that choose events, and the token (an EventSource cannot send headers). */
function streamSchema(): Record<string, unknown> {
  const base = eventFilterSchema() as { properties: Record<string, unknown> };
  const properties: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(base.properties))
    if (!['limit', 'cursor', 'follow', 'wait_ms'].includes(k)) properties[k] = v;
  properties.access_token = {
    type: 'string',
    maxLength: 512,
    description: 'the bearer token, for clients that cannot send an Authorization header',
  };
  return { ...base, properties };
}

export interface RouteSpec {
  readonly method: 'GET';
  readonly url: string;
  readonly summary: string;
  readonly querystring?: Record<string, unknown>;
  readonly params?: Record<string, unknown>;
  /** The code a request that fails its schema is answered with. */
  readonly badRequest: string;
  readonly responses: Readonly<
    Record<string, { description: string; schema?: unknown; type?: string }>
  >;
}

export const ROUTES = {
  events: {
    method: 'GET',
    url: '/api/v1/events',
    summary:
      'Stored events, newest first and paged with next_cursor; with follow=true, those stored after `after`, oldest first (a long poll of up to wait_ms)',
    querystring: eventFilterSchema(),
    badRequest: 'BAD_FILTER',
    responses: {
      200: {
        description: 'a page of events',
        schema: {
          type: 'object',
          properties: {
            events: { type: 'array', items: EVENT },
            next_cursor: { type: ['string', 'null'], description: 'the next page, or null' },
            last_seq: { type: 'integer', description: '`after` for the next follow' },
          },
        },
      },
      400: { description: 'a bad filter (code BAD_FILTER)', schema: ERROR },
    },
  },
  stream: {
    method: 'GET',
    url: '/api/v1/events/stream',
    summary:
      'Server-sent events: each stored event as it arrives (`id` is its seq, `data` the event as JSON); resumes after the Last-Event-ID header (or `after`), else starts with what arrives next',
    querystring: streamSchema(),
    badRequest: 'BAD_FILTER',
    responses: {
      200: { description: 'an event stream', type: 'text/event-stream' },
      400: { description: 'a bad filter (code BAD_FILTER)', schema: ERROR },
    },
  },
  deployables: {
    method: 'GET',
    url: '/api/v1/deployables',
    summary: "Every deployable's status: deployable_status for each (schemas/cpe-api.md)",
    badRequest: 'BAD_ARGUMENT',
    responses: {
      200: {
        description: 'the deployables, by name',
        schema: { type: 'object', properties: { deployables: { type: 'array' } } },
      },
    },
  },
  deployable: {
    method: 'GET',
    url: '/api/v1/deployables/:name',
    summary: "One deployable's status: deployable_status (schemas/cpe-api.md)",
    params: {
      type: 'object',
      required: ['name'],
      additionalProperties: false,
      properties: { name: NAME },
    },
    badRequest: 'BAD_ARGUMENT',
    responses: {
      200: { description: 'its status', schema: { type: 'object' } },
      404: { description: 'no such deployable (code UNKNOWN_DEPLOYABLE)', schema: ERROR },
    },
  },
} as const satisfies Record<string, RouteSpec>;

/** The OpenAPI 3.1 document of the API, made from ROUTES. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of Object.values(ROUTES) as RouteSpec[]) {
    const path = route.url.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['query', route.querystring],
      ['path', route.params],
    ] as const) {
      const props = (
        schema as { properties?: Record<string, { description?: string }> } | undefined
      )?.properties;
      for (const [name, s] of Object.entries(props ?? {}))
        parameters.push({
          name,
          in: where,
          required: where === 'path',
          description: s.description,
          schema: { ...s, description: undefined },
        });
    }
    const responses: Record<string, unknown> = {
      401: { description: 'a token is required and was missing or wrong (code UNAUTHORIZED)' },
    };
    for (const [status, r] of Object.entries(route.responses))
      responses[status] = {
        description: r.description,
        content: r.type ? { [r.type]: {} } : { 'application/json': { schema: r.schema } },
      };
    paths[path] = {
      get: { summary: route.summary, parameters, responses, security: [{ bearer: [] }] },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Cloud Policy Engine: event log and status',
      version: packageVersion(),
      description:
        'Served by the CPE (http.host, http.port). A bearer token (http.tokenFile) is required whenever one is set, and must be set to listen beyond loopback.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

/** The document as schemas/openapi.json holds it. */
export function openApiText(): string {
  return `${JSON.stringify(openApiDocument(), null, 2)}\n`;
}
