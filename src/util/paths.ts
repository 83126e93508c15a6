// Locations of files shipped with the package, independent of the working directory.
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

// Compiled to dist/src/util/paths.js; the package root is three levels up.
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

export function packageRoot(): string {
  return root;
}

export function dataPath(name: string): string {
  return resolve(root, 'data', name);
}
