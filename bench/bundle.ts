import { execSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { besideTheBundle, SSO_ESBUILD } from '../lib/sso-function';

/**
 * Builds a function's bundle in `outdir` as the construct does (`lib/sso-function.ts`): esbuild
 * with `SSO_ESBUILD`, then its afterBundling commands, which put the modules shipped beside the
 * bundle in `outdir/node_modules`. Returns the size of `index.mjs`, the bundle Lambda loads.
 */
export async function bundleLikeTheConstruct(root: string, entry: string, outdir: string): Promise<number> {
  await build({ ...SSO_ESBUILD, mainFields: [...SSO_ESBUILD.mainFields], external: [...SSO_ESBUILD.external], entryPoints: [join(root, entry)], outfile: join(outdir, 'index.mjs'), logLevel: 'error' });
  for (const command of besideTheBundle(root, outdir)) execSync(command, { stdio: 'inherit' });
  return statSync(join(outdir, 'index.mjs')).size;
}
