#!/usr/bin/env node
// `npm run docs:links`: every relative link and #anchor of README.md and docs/**/*.md resolves.
// A relative link must name a file or folder of the repository; an anchor (`#x` or `file.md#x`) must
// be one GitHub gives a heading of that file (see headingAnchors in markdown.mjs). Links to other
// sites (http:, https:, mailto:) are not fetched. Prints one line per broken link; exit code 1 if any.
import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  documentationFiles,
  headingAnchors,
  readMarkdown,
  readText,
  repoPath,
} from './markdown.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

// README.md and every .md file under docs/, or the Markdown files named on the command line.
const filesToCheck = () =>
  process.argv.length > 2 ? process.argv.slice(2) : documentationFiles(root);

/** Link targets on one line outside code: inline links and images, and reference definitions. */
function linkTargets(line) {
  const text = line.replace(/`+[^`]*`+/g, '');
  const targets = [];
  for (const match of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    targets.push(match[1]);
  }
  const definition = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(text);
  if (definition) targets.push(definition[1]);
  for (const match of text.matchAll(/<a\s+[^>]*href="([^"]+)"/g)) targets.push(match[1]);
  return targets;
}

const anchorCache = new Map();
function anchorsOf(path) {
  if (!anchorCache.has(path))
    anchorCache.set(path, headingAnchors(readMarkdown(readText(root, path))));
  return anchorCache.get(path);
}

/** Why `target`, written in `file`, does not resolve; undefined when it does. */
function problem(file, target) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined; // another site, or mailto:
  const hash = target.indexOf('#');
  const pathPart = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  let targetFile = file;
  if (pathPart !== '') {
    const absolute = pathPart.startsWith('/')
      ? join(root, pathPart)
      : join(root, dirname(file), pathPart);
    targetFile = repoPath(root, normalize(absolute));
    if (targetFile.startsWith('..')) return `${pathPart} points outside the repository`;
    if (!existsSync(join(root, targetFile))) return `${targetFile} does not exist`;
  }
  if (anchor === undefined) return undefined;
  if (anchor === '') return 'empty anchor';
  if (statSync(join(root, targetFile)).isDirectory() || !targetFile.endsWith('.md')) {
    return `#${anchor}: anchors are only checked in Markdown files, and ${targetFile} is not one`;
  }
  return anchorsOf(targetFile).has(anchor) ? undefined : `no heading #${anchor} in ${targetFile}`;
}

let checked = 0;
const broken = [];
for (const file of filesToCheck()) {
  const markdown = readMarkdown(readText(root, file));
  markdown.lines.forEach((line, index) => {
    if (markdown.inFence[index]) return;
    for (const target of linkTargets(line)) {
      checked++;
      const why = problem(file, target);
      if (why) broken.push(`${file}:${index + 1}: ${target}: ${why}`);
    }
  });
}
for (const line of broken) console.error(line);
console.log(`docs:links: ${checked} links checked, ${broken.length} broken`);
process.exitCode = broken.length === 0 ? 0 : 1;
