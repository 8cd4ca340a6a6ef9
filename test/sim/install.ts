/** Imported first by the simulation's entry points: the runtime's dispatchers are in place before lib/ is loaded. */
import { installRuntime } from './runtime';

installRuntime();
