#!/usr/bin/env node
// `npm run docs:snippets`: every ```ts / ```typescript block of README.md and docs/**/*.md compiles
// as written against the package, as a reader would paste it into their app.
//
// Conventions (docs/README.md, "Code blocks", says the same for writers):
// - Each block is its own module (`export {}` is added), compiled with the project's strict
//   compiler options; `nest-oidc-logout` and its subpaths `/typeorm`, `/passport`, `/redis` and
//   `/terminus` resolve to lib/index.ts, lib/typeorm.ts, lib/passport.ts, lib/redis.ts and
//   lib/terminus.ts.
// - A block whose first line is `// continues` is compiled together with the block before it in the
//   same file (and what that one continued): the two read as one file cut in two.
// - A block whose first line names a file (`// src/auth.module.ts`) is compiled under that name, so
//   that the blocks of one Markdown file can import each other (`import { AuthModule } from
//   './auth.module'`), as the files of an app do.
// - Modules are compiled as a bundler or Nest's build would (`module: preserve`): a block may use
//   `await` at its top level, as the body of an async function it leaves out.
// - Names a block uses without defining them are declared in the block itself
//   (`declare const logoutService: LogoutService;`), so that it stands alone.
// - A block preceded by the comment `<!-- embed: docs/examples/<file>.ts -->` must equal that file,
//   byte for byte: the file is what a test imports, the block what a reader copies.
// Prints each compiler error at its Markdown file and line; exit code 1 if any.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { documentationFiles, readMarkdown, readText } from './markdown.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

// README.md and every .md file under docs/, or the Markdown files named on the command line.
const filesToCheck = () =>
  process.argv.length > 2 ? process.argv.slice(2) : documentationFiles(root);
const ts = createRequire(import.meta.url)('typescript');
const outDir = join(root, 'build', 'doc-snippets');
const CONTINUES = '// continues';
const FILE_NAME = /^\/\/ ((?:[\w.-]+\/)*[\w.-]+\.ts)$/;

const problems = [];
/** Generated file -> { file, firstLine, segments: [{ from (0-based in generated), line }] }. */
const sources = new Map();

for (const file of filesToCheck()) {
  const markdown = readMarkdown(readText(root, file));
  let chain;
  for (const block of markdown.blocks) {
    const embed =
      /^<!-- embed: (\S+) -->$/.exec(markdown.lines[block.startLine - 3] ?? '') ??
      /^<!-- embed: (\S+) -->$/.exec(markdown.lines[block.startLine - 2] ?? '');
    const text = block.lines.join('\n') + '\n';
    if (embed && readText(root, embed[1]) !== text) {
      problems.push(
        `${file}:${block.startLine}: the block differs from ${embed[1]}: copy the file`,
      );
    }
    if (!/^(ts|typescript)\b/.test(block.info)) continue;
    const continues = block.lines[0]?.trim() === CONTINUES;
    if (continues && chain === undefined) {
      problems.push(`${file}:${block.startLine}: "${CONTINUES}" without a TypeScript block before`);
    }
    if (!continues || chain === undefined) {
      const named = FILE_NAME.exec(block.lines[0]?.trim() ?? '')?.[1];
      const name = `${file.replace(/[/.]/g, '_')}/${named ?? `block-${block.startLine}.ts`}`;
      if (sources.has(name))
        problems.push(`${file}:${block.startLine}: a second block named ${named}`);
      chain = { file, name, segments: [] };
      sources.set(name, chain);
    }
    chain.segments.push({ lines: block.lines, firstLine: block.startLine + 1 });
  }
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const files = [];
for (const [name, chain] of sources) {
  const lines = chain.segments.flatMap((segment) => segment.lines);
  mkdirSync(dirname(join(outDir, name)), { recursive: true });
  writeFileSync(join(outDir, name), `${lines.join('\n')}\nexport {};\n`);
  files.push(join(outDir, name));
}

const config = ts.getParsedCommandLineOfConfigFile(
  join(root, 'tsconfig.json'),
  {},
  {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) =>
      problems.push(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
  },
);
const options = {
  ...config.options,
  noEmit: true,
  module: ts.ModuleKind.Preserve,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  declaration: false,
  sourceMap: false,
  paths: {
    'nest-oidc-logout': [join(root, 'lib/index.ts')],
    'nest-oidc-logout/typeorm': [join(root, 'lib/typeorm.ts')],
    'nest-oidc-logout/passport': [join(root, 'lib/passport.ts')],
    'nest-oidc-logout/redis': [join(root, 'lib/redis.ts')],
    'nest-oidc-logout/terminus': [join(root, 'lib/terminus.ts')],
  },
};
const program = ts.createProgram(files, options);
for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
  const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n  ');
  const generated = diagnostic.file?.fileName;
  const chain =
    generated && generated.startsWith(outDir)
      ? sources.get(generated.slice(outDir.length + 1))
      : undefined;
  if (!chain) {
    if (generated === undefined) problems.push(`TS${diagnostic.code}: ${message}`);
    continue; // an error in lib/ itself is for typecheck to report
  }
  let line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line;
  const segment = chain.segments.find((s) =>
    line < s.lines.length ? true : ((line -= s.lines.length), false),
  );
  const where = segment ? `${chain.file}:${segment.firstLine + line}` : chain.file;
  problems.push(`${where}: TS${diagnostic.code}: ${message}`);
}

for (const problem of problems) console.error(problem);
console.log(
  `docs:snippets: ${files.length} TypeScript snippets compiled, ${problems.length} problems`,
);
process.exitCode = problems.length === 0 ? 0 : 1;
