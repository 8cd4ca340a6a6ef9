/**
 * What kept a lowered Sails app's modules alive (issue 22). Sails loads an app's config/,
 * api/controllers, api/policies, api/hooks, … with include-all, which deletes each file, and
 * every module it required (recursively: for the fund app's api/hooks/transact that is the whole
 * hook, dist/api/lib and the packages they use, express included), from the require cache and
 * requires it again, at every load. Node pushes each new copy onto `children` of the module that
 * required it (include-all's own, or a surviving parent) and never takes the old one off: every
 * load's copy of the app's code, its module state and what it holds (with HTTP, the Sails app:
 * config/http.js's exports get middleware closing over it) stayed reachable, ~85 MB a load of the
 * fund app, ~105 MB lifted with HTTP.
 */

type Linked = NodeJS.Module & { parent?: NodeJS.Module | null };

/**
 * Unlinks the copies no longer in the require cache: in every live module's `children`, each
 * replaced by its id's current copy (or taken off if there is none: Node keeps `children` and
 * `parent` for information, include-all reads the ids in `children` of what is still cached), and
 * their own `children` and `parent` emptied, so that one kept by a module
 * it exported to (Sails' http hook keeps the first express's View, hence its module) keeps no
 * other copy, nor what that copy's exports reach. Returns how many copies it unlinked.
 */
export function forgetReloadedModules(): number {
  const live = new Set<NodeJS.Module>();
  for (const mod of Object.values(require.cache)) if (mod !== undefined) live.add(mod);
  const stale: Linked[] = [];
  for (const mod of live as Set<Linked>) {
    if (mod.parent && !live.has(mod.parent)) mod.parent = undefined;
    if (mod.children.every((child) => live.has(child))) continue;
    // include-all reads `children` by id (it deletes `require.cache[child.id]`, the current copy):
    // an old copy stands for its id's current one, which takes its place, else it goes.
    const kept = new Set<NodeJS.Module>();
    for (const child of mod.children) {
      if (live.has(child)) kept.add(child);
      else {
        stale.push(child);
        const current = require.cache[child.id];
        if (current !== undefined) kept.add(current);
      }
    }
    mod.children.splice(0, mod.children.length, ...kept);
  }
  const seen = new Set<NodeJS.Module>();
  while (stale.length > 0) {
    const mod = stale.pop() as Linked;
    if (seen.has(mod)) continue;
    seen.add(mod);
    for (const child of mod.children) if (!live.has(child)) stale.push(child);
    mod.children.length = 0;
    mod.parent = undefined;
  }
  return seen.size;
}

/**
 * Takes the app's own files (those under `appPath`'s config/ and api/, which Sails loads with
 * include-all) and every module they required, recursively, out of the require cache: what
 * include-all's `force` does before it requires each file, done once for the whole load.
 * Why: include-all does it file by file, and the fund app's files share one tree (the hook,
 * dist/api/lib, joi, express, prom-client: its config/http.js, each model, api/hooks/*): each
 * file purged, and required again, what the one before it had just loaded. A load after the
 * first in a process compiled ~4,600 modules, each of dist/ ~27 times (a first load: ~1,100),
 * ~2.5 s of CPU against ~0.6 s for a fresh process's load. Purged beforehand, include-all finds
 * none of the app's files cached and requires each once: the same fresh copy of the same
 * modules at every load, as a process's first load (and production's) has it.
 * Returns how many modules it took out.
 */
export function purgeAppModules(appPath: string): number {
  const roots = [`${appPath}/config/`, `${appPath}/api/`];
  const stack = Object.keys(require.cache).filter((id) => roots.some((root) => id.startsWith(root)));
  const purged = new Set<string>();
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (purged.has(id)) continue;
    const mod = require.cache[id];
    if (mod === undefined) continue;
    purged.add(id);
    // include-all's walk: the cached copy's children, compiled addons (.node) kept (they cannot be loaded twice).
    for (const child of mod.children) if (!child.id.endsWith('.node')) stack.push(child.id);
    delete require.cache[id];
  }
  return purged.size;
}
