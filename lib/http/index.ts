/**
 * The hook's HTTP layer: transactional blueprint actions for the models an app marks, and
 * (opt-in) REST endpoints over the log. It knows models and the engine, never an adapter; the
 * core (engine, stores, recovery) knows nothing of it. lib/hook.ts makes the one call below.
 */
import type { Engine } from '../engine';
import { bindUnknownModelFallback, registerBlueprintActions } from './blueprints';
import { installErrorResponses, type ResponsesApp } from './sails-responses';
import { bindRestRoutes, registerRestActions, type RoutesConfig } from './rest';
import type { HttpApp } from './sails';

export interface HttpSettings {
  /** config.transact.routes: false (the default) or where the REST endpoints live. */
  routes: RoutesConfig | false;
}

/** What installHttp needs of the hook: where the engine will be, once initialized. */
export interface HttpHook {
  engine?: Engine;
}

export interface InstalledHttp {
  /** Registers (again) every action of the hook: at start, and on sails.reloadActions(). */
  registerActions(): void;
}

/**
 * Installs the HTTP layer: binds the REST endpoints, when on, at every `router:before` (ahead of
 * the app's routes) and the unknown-model fallback at every `router:after` (behind them), and
 * returns the action registration, to run once the blueprints hook has registered its own
 * actions (the hook's replace those of the same identities). Without the http hook
 * (`sails.load` with `http: false`) the routes are bound to a router that serves nothing:
 * harmless.
 */
export function installHttp(hook: HttpHook, sails: HttpApp, settings: HttpSettings): InstalledHttp {
  const { routes } = settings;
  if (routes !== false) {
    sails.on('router:before', () => bindRestRoutes(sails, routes));
  }
  sails.on('router:after', () => bindUnknownModelFallback(sails));
  installErrorResponses(sails as unknown as ResponsesApp);
  return {
    registerActions() {
      registerBlueprintActions(sails, hook);
      if (routes !== false) registerRestActions(sails, hook, routes);
    },
  };
}

export { blueprintPath, registerBlueprintActions, transactionalModels } from './blueprints';
export { findAction, findOneAction, type EngineGetter } from './read-actions';
export { errorBody, sendEngineError, sendError, type ErrorBody } from './error-shape';
export { errorResponses } from './sails-responses';
export { prototypeKeyPath } from '../core/json';
export { restIdentity, restRoutes, type RoutesConfig } from './rest';
export type { Action, HttpApp, HttpRequest, HttpResponse } from './sails';
export { allowlistOf, attributeSchema, idSchema, identitySchema, isTransactional, operationRefusal, valuesSchema, type HttpAllowlist, type Refusal } from './validation';
