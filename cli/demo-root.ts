import { fileURLToPath } from 'node:url';

/** The bundled demo site as a release, built and activated by `npm run build`. */
export const DEMO_ROOT = fileURLToPath(new URL('../demo-releases/current', import.meta.url));
