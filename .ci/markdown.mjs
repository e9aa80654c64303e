// Shared by the documentation checks (check-doc-links.mjs, check-doc-snippets.mjs): which Markdown
// files are the documentation, and a line-based reading of them (fenced blocks, headings, links)
// that is enough for the Markdown this repository writes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Generated output (`npm run docs`) lives under docs/api/ and is not documentation source. */
const GENERATED = new Set(['docs/api']);

/** README.md and every .md file under docs/, as paths relative to `root`, sorted. */
export function documentationFiles(root) {
  const files = ['README.md'];
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir)).sort()) {
      const path = `${dir}/${entry}`;
      if (GENERATED.has(path)) continue;
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else if (entry.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  return files;
}

/**
 * The lines of a Markdown text, each with whether it is inside a fenced code block, and the fenced
 * blocks themselves: `{ info, startLine, lines }` (`startLine`: 1-based line of the opening fence).
 */
export function readMarkdown(text) {
  const lines = text.split('\n');
  const blocks = [];
  const inFence = [];
  let open;
  lines.forEach((line, index) => {
    const fence = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (open === undefined) {
      if (fence) {
        open = { marker: fence[1], info: fence[2].trim(), startLine: index + 1, lines: [] };
        inFence.push(true);
      } else inFence.push(false);
      return;
    }
    inFence.push(true);
    if (fence && fence[1][0] === open.marker[0] && fence[1].length >= open.marker.length) {
      if (fence[2].trim() === '') {
        blocks.push({ info: open.info, startLine: open.startLine, lines: open.lines });
        open = undefined;
        return;
      }
    }
    open.lines.push(line);
  });
  return { lines, inFence, blocks };
}

/** The plain text of inline Markdown: code spans, links, emphasis and HTML tags reduced to text. */
export function plainText(inline) {
  return inline
    .replace(/`+([^`]*)`+/g, '$1')
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/(^|[^\p{L}\p{N}])[*_](.+?)[*_](?=[^\p{L}\p{N}]|$)/gu, '$1$2');
}

/**
 * The anchors GitHub gives a file's headings (github-slugger's rules): the heading's text,
 * lower-cased, without any character that is not a letter, mark, number, connector (`_`), hyphen
 * or space, spaces turned into hyphens; a repeated slug gets `-1`, `-2`, ... Explicit
 * `<a id="...">` / `<a name="...">` anchors count too.
 */
export function headingAnchors(markdown) {
  const anchors = new Set();
  const seen = new Map();
  markdown.lines.forEach((line, index) => {
    if (markdown.inFence[index]) return;
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]);
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) return;
    const base = plainText(heading[1])
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  });
  return anchors;
}

/** `path` relative to `root`, with forward slashes. */
export function repoPath(root, path) {
  return relative(root, path).split('\\').join('/');
}

/** Reads a repository file as UTF-8. */
export function readText(root, path) {
  return readFileSync(join(root, path), 'utf8');
}
