/**
 * Loading a Sails app again in the same process (the test suites' apps; an operational script's
 * live, scratch and prepared apps) without recompiling the app's code once per file of it.
 */
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
