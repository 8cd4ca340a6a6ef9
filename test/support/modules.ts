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
