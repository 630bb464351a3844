// The one table of admin routes: each entry says what a route takes (path, query and body
// schemas), which scope it needs, what it answers, and the handler that calls a service. The
// router is wired from it and the OpenAPI document is generated from it, so neither can drift.
import type { z } from 'zod';
import type { AdminScope } from './types.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A request after its parts passed their schemas. */
export interface RouteRequest<Params, Query, Body> {
  params: Params;
  query: Query;
  body: Body;
}

export interface AdminRoute<Params = any, Query = any, Body = any> {
  operationId: string;
  method: HttpMethod;
  /** An OpenAPI path template under /admin/v1, such as `/clients/{id}`. */
  path: string;
  /** The scope the access token must carry; null for the one public route (the document). */
  scope: AdminScope | null;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodType<Params>;
  query?: z.ZodType<Query>;
  body?: z.ZodType<Body>;
  /** The success answer; its schema also checks (and trims to itself) what goes out. */
  answer: { status: number; description: string; schema: z.ZodType };
  /** Error statuses this route may answer besides 400, 401, 403 and 500 (404, 409 ...). */
  errors?: readonly number[];
  /** Calls the services with plain values; returns the answer's body. */
  handle(request: RouteRequest<Params, Query, Body>): Promise<unknown>;
}

/** Declares one route, inferring the handler's argument types from the schemas. */
export function route<Params = undefined, Query = undefined, Body = undefined>(
  spec: AdminRoute<Params, Query, Body>,
): AdminRoute<Params, Query, Body> {
  return spec;
}

/** `/clients/{id}` (OpenAPI) as `/clients/:id` (the router's path syntax). */
export function routerPath(openApiPath: string): string {
  return openApiPath.replace(/\{(\w+)\}/g, ':$1');
}
