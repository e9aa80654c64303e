// `npm run docs`: the API reference, generated from the TSDoc into docs/api/ (not committed).
// Entry points: the package root and its subpaths. A missing entry point is only a warning.
import { OptionDefaults } from 'typedoc';

/** @type {Partial<import('typedoc').TypeDocOptions>} */
const config = {
  name: 'nest-oidc-logout',
  entryPoints: [
    '../lib/index.ts',
    '../lib/typeorm.ts',
    '../lib/passport.ts',
    '../lib/redis.ts',
    '../lib/terminus.ts',
  ],
  tsconfig: './tsconfig.build.json',
  out: '../docs/api',
  readme: 'none',
  excludeInternal: true,
  excludePrivate: true,
  cleanOutputDir: true,
  modifierTags: [...OptionDefaults.modifierTags, '@publicApi'],
};

export default config;
