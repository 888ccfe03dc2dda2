// Finds the code blocks in the seed documents (shared/seeds/*.txt). They
// are plain-text renders of web pages: fences are gone, a block is a run of
// lines between blank lines, code and prose are told apart by how a block
// starts, and a few blocks touch without a blank line between them (a
// one-line "Terminal window" command before a script; one complete script
// starting with `import` right after another). The extractor fails loudly on
// a paragraph that starts like code but holds a prose line, instead of
// guessing; blocks.txt is the hand-checked list of what it must find.
//
//   node extract.mjs [seed files...]     prints the list blocks.txt holds
//   node extract.mjs --show N [files]    prints block N's code

import { existsSync, readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// The seed documents: shared/seeds beside the repository where it is
// there (the specification as it stands), else the verbatim copy in
// spec/, so that a clone alone can run them. When both are there they
// must be the same files, or the copy is stale.
const sharedSeedDir = resolve(here, "../../../shared/seeds");
const copySeedDir = resolve(here, "spec");
export const defaultSeedDir = existsSync(sharedSeedDir) ? sharedSeedDir : copySeedDir;

function checkCopy() {
  if (defaultSeedDir !== sharedSeedDir) return;
  const names = (d) => readdirSync(d).filter((f) => f.endsWith(".txt")).sort();
  const shared = names(sharedSeedDir);
  const copy = names(copySeedDir);
  const same = shared.length === copy.length && shared.every((f, i) =>
    f === copy[i] && readFileSync(join(sharedSeedDir, f), "utf8") === readFileSync(join(copySeedDir, f), "utf8"));
  if (!same) {
    throw new Error(`sdk/seeds/spec is not a copy of ${sharedSeedDir}: copy the seed documents again (cp ${sharedSeedDir}/*.txt sdk/seeds/spec/)`);
  }
}

// How the first line of a code block starts (after list indentation).
const CODE_START =
  /^(?:import\b|export\b|const\b|let\b|var\b|await\b|async\b|function\b|interface\b|type\s+\w+\s*=|try\s*\{|if\s*\(|for\s*\(|\/\/|\{$|\[$|console\.|[\w$.]+\([^)]*\)\s*[;.])/;
// Typedoc signature lines ("create(request): Promise<X>", "new X(fetch): X")
// are headings on the page, not code blocks.
const SIGNATURE = /^(?:new\s+)?[\w$]+\([\w$, ]*\):\s*[\w$<>[\]| ]+$/;
// A line that reads as a sentence: words, ending in . or :, without code
// punctuation. Inside a code block it means the block boundaries are wrong.
const PROSE = /^[A-Z][A-Za-z'’-]*(?:\s+[A-Za-z'’(),/-]+){3,}[.:]$/;
const TERMINAL_LABEL = "Terminal window";
const MISSED_CODE = /^(?:const|let|await|import|console\.)\b|[;{]$/;
const LIST_ITEM = /^\s*(?:\d+\.|•)\s+\S/;

/** The code blocks of one document, in order. */
export function extractBlocks(text, doc = "doc") {
  const lines = text.split(/\r?\n/);
  const paragraphs = [];
  let cur = null;
  lines.forEach((line, i) => {
    if (line.trim() === "") {
      cur = null;
      return;
    }
    if (!cur) paragraphs.push((cur = { start: i + 1, lines: [] }));
    cur.lines.push(line);
  });

  const blocks = [];
  const add = (kind, start, codeLines) => {
    const indent = Math.min(...codeLines.filter((l) => l.trim()).map((l) => l.match(/^\s*/)[0].length));
    const code = codeLines.map((l) => l.slice(indent)).join("\n") + "\n";
    blocks.push({ doc, index: blocks.length + 1, line: start, endLine: start + codeLines.length - 1, kind, code });
  };

  for (const p of paragraphs) {
    let ls = p.lines;
    let start = p.start;
    if (ls[0].trim() === TERMINAL_LABEL) {
      // The label, then the one-line command; anything after it is the
      // next block, which the page shows directly below.
      if (ls.length < 2) throw new Error(`${doc}:${start}: "${TERMINAL_LABEL}" without a command`);
      add("shell", start + 1, [ls[1]]);
      ls = ls.slice(2);
      start += 2;
      if (ls.length === 0) continue;
    }
    const first = ls[0].trim();
    if (SIGNATURE.test(first) || LIST_ITEM.test(ls[0]) || !CODE_START.test(first)) {
      if (p.lines !== ls) throw new Error(`${doc}:${start}: text after a terminal command is not code: ${first}`);
      // Prose must not hide code: a statement-like line here means a block
      // the rules above did not recognise.
      ls.forEach((l, i) => {
        if (MISSED_CODE.test(l.trim())) throw new Error(`${doc}:${start + i}: code-like line outside any block: ${l.trim()}`);
      });
      continue;
    }
    // Inside a list, code is indented under its item and the next item
    // follows without a blank line: a line indented less than the block's
    // first line ends the block, and must be such an item.
    const indentOf = (l) => l.match(/^\s*/)[0].length;
    const cut = ls.findIndex((l) => indentOf(l) < indentOf(ls[0]));
    if (cut > 0) {
      for (const l of ls.slice(cut)) {
        if (!LIST_ITEM.test(l)) throw new Error(`${doc}:${start + ls.indexOf(l)}: expected a list item after indented code: ${l}`);
      }
      ls = ls.slice(0, cut);
    }
    // A new script starts at an import that follows code other than imports.
    let blockStart = 0;
    for (let i = 0; i < ls.length; i++) {
      const t = ls[i].trim();
      if (PROSE.test(t)) throw new Error(`${doc}:${start + i}: prose inside a code block: ${t}`);
      if (i > 0 && /^import\b/.test(t) && !/^import\b|^}\s*from\b|^\w+,?$/.test(ls[i - 1].trim())) {
        push(ls.slice(blockStart, i), start + blockStart);
        blockStart = i;
      }
    }
    push(ls.slice(blockStart), start + blockStart);
  }
  return blocks;

  function push(codeLines, start) {
    const first = codeLines[0].trim();
    add(first.startsWith("{") || first.startsWith("[") ? "json" : "ts", start, codeLines);
  }
}

/** Every block of every seed document in dir (or of the files given), numbered across them. */
export function extractAll(files) {
  if (!files || files.length === 0) {
    checkCopy();
    files = readdirSync(defaultSeedDir)
      .filter((f) => f.endsWith(".txt"))
      .sort()
      .map((f) => join(defaultSeedDir, f));
  }
  const all = [];
  for (const f of files) {
    for (const b of extractBlocks(readFileSync(f, "utf8"), basename(f))) {
      all.push({ ...b, id: all.length + 1 });
    }
  }
  return all;
}

/** One line per block: the form blocks.txt keeps. */
export function describe(b) {
  const first = b.code.split("\n")[0];
  return `${String(b.id).padStart(2)} ${b.doc}:${b.line}-${b.endLine} ${b.kind} ${first}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args[0] === "--show") {
    const n = Number(args[1]);
    const b = extractAll(args.slice(2)).find((x) => x.id === n);
    if (!b) throw new Error(`no block ${n}`);
    process.stdout.write(b.code);
  } else {
    for (const b of extractAll(args)) console.log(describe(b));
  }
}
