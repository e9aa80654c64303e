import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * What each package entry loads at import time, read from the CommonJS the compiler emits for each
 * file (type-only imports are gone then, as in the package): the `require` calls at the top level of
 * a module, followed through the library's own files. A `require` inside a function (the lazy load
 * of an optional peer) is not followed.
 */
const LIB = __dirname;

interface StaticImports {
  /** Library files loaded at import time, each with the chain that loads it. */
  files: Map<string, string[]>;
  /** Packages loaded at import time, with the chain of each library file that loads one. */
  packages: Array<[name: string, chain: string[]]>;
}

function topLevelRequires(file: string, code = readFileSync(file, 'utf8')): string[] {
  const { outputText } = ts.transpileModule(code, {
    fileName: file,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      esModuleInterop: true,
    },
  });
  const source = ts.createSourceFile(`${file}.js`, outputText, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node)) return; // runs later, if ever: not at import time
    if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require' &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0]!)
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function resolveLibFile(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`cannot resolve ${specifier} from ${relative(LIB, from)}`);
}

function staticImports(entry: string): StaticImports {
  const files = new Map<string, string[]>([[entry, [relative(LIB, entry)]]]);
  const packages: StaticImports['packages'] = [];
  const queue = [entry];
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    const chain = files.get(file)!;
    for (const specifier of topLevelRequires(file)) {
      if (specifier.startsWith('.')) {
        const target = resolveLibFile(file, specifier);
        if (!files.has(target)) {
          files.set(target, [...chain, relative(LIB, target)]);
          queue.push(target);
        }
      } else {
        packages.push([specifier, chain]);
      }
    }
  }
  return { files, packages };
}

const TYPEORM = /^(typeorm|@nestjs\/typeorm)(\/|$)/;
const PASSPORT = /^(passport[^/]*|@nestjs\/passport)(\/|$)/;
const TERMINUS = /^@nestjs\/terminus(\/|$)/;

/** Each offending package, as `package <- file <- ... <- entry`. */
function offenders(imports: StaticImports, forbidden: RegExp): string[] {
  return imports.packages
    .filter(([name]) => forbidden.test(name))
    .map(([name, chain]) => [name, ...chain.slice().reverse()].join(' <- '));
}

/**
 * Library files through which the root entry still loads typeorm statically, being changed to load
 * it lazily (the default store provider). Each must go once it does: the test fails for an entry
 * that no longer loads typeorm.
 */
const ROOT_TYPEORM_PENDING: readonly string[] = [];

describe('package entries: what they load at import time', () => {
  const root = staticImports(join(LIB, 'index.ts'));

  it('the root entry loads neither passport nor @nestjs/passport', () => {
    expect(offenders(root, PASSPORT)).toEqual([]);
  });

  it('the root entry loads neither typeorm nor @nestjs/typeorm', () => {
    const found = offenders(root, TYPEORM);
    const through = (line: string, file: string): boolean =>
      line.split(' <- ').slice(1).includes(file);
    expect(
      found.filter((line) => !ROOT_TYPEORM_PENDING.some((file) => through(line, file))),
    ).toEqual([]);
    expect(
      ROOT_TYPEORM_PENDING.filter((file) => !found.some((line) => through(line, file))),
      'no longer loads typeorm: remove it from ROOT_TYPEORM_PENDING',
    ).toEqual([]);
  });

  it('nest-oidc-logout/passport does not load typeorm, nor passport before the login is used', () => {
    const login = staticImports(join(LIB, 'passport.ts'));
    expect(offenders(login, TYPEORM)).toEqual([]);
    expect(offenders(login, PASSPORT)).toEqual([]);
  });

  it('nest-oidc-logout/redis loads no Redis client, typeorm nor passport: the app brings its client', () => {
    const redis = staticImports(join(LIB, 'redis.ts'));
    expect(offenders(redis, /^(ioredis|redis|@redis\/.*)(\/|$)/)).toEqual([]);
    expect(offenders(redis, TYPEORM)).toEqual([]);
    expect(offenders(redis, PASSPORT)).toEqual([]);
  });

  it('the root entry loads neither @nestjs/terminus nor the health indicator', () => {
    expect(offenders(root, TERMINUS)).toEqual([]);
    const health = [...root.files.values()].filter((chain) => chain.at(-1)?.startsWith('health/'));
    expect(health.map((chain) => chain.slice().reverse().join(' <- '))).toEqual([]);
  });

  it('nest-oidc-logout/terminus loads @nestjs/terminus, but neither typeorm nor passport', () => {
    const terminus = staticImports(join(LIB, 'terminus.ts'));
    expect(offenders(terminus, TERMINUS)).not.toEqual([]);
    expect(offenders(terminus, TYPEORM)).toEqual([]);
    expect(offenders(terminus, PASSPORT)).toEqual([]);
  });

  it('no other entry loads @nestjs/terminus', () => {
    for (const entry of ['typeorm.ts', 'passport.ts', 'redis.ts']) {
      expect(offenders(staticImports(join(LIB, entry)), TERMINUS), entry).toEqual([]);
    }
  });

  it('nest-oidc-logout/typeorm does not load passport', () => {
    expect(offenders(staticImports(join(LIB, 'typeorm.ts')), PASSPORT)).toEqual([]);
  });

  it('sees a static import, and only what runs at import time', () => {
    // The reading itself: the TypeORM entry does load typeorm.
    expect(offenders(staticImports(join(LIB, 'typeorm.ts')), TYPEORM)).not.toEqual([]);
    const code = [
      "import type { DataSource } from 'typeorm';",
      "import { Strategy } from 'passport-openidconnect';",
      "import { Logger } from '@nestjs/common';",
      'export const strategy = Strategy;',
      'export const logger = new Logger();',
      'export async function connect(): Promise<DataSource> {',
      "  const { DataSource } = await import('typeorm');",
      "  require('@nestjs/typeorm');",
      '  return new DataSource({ type: "sqlite", database: ":memory:" });',
      '}',
    ].join('\n');
    expect(topLevelRequires(join(LIB, 'example.ts'), code)).toEqual([
      'passport-openidconnect',
      '@nestjs/common',
    ]);
  });
});
