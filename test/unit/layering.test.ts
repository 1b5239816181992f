import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The dependency rules of ../shared/DESIGN.md, checked on every import of every source file.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) out.push(...sourceFiles(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const importRe = /^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of [...sourceFiles('src'), ...sourceFiles('codecs'), ...sourceFiles('filters')]) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const m of text.matchAll(importRe)) {
      const spec = m[2]!;
      if (!spec.startsWith('.')) continue;
      const to = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, '.ts');
      out.push({ from: file, to, typeOnly: m[1] !== undefined });
    }
  }
  return out;
}

const top = (p: string) => p.split('/')[0]!;

describe('dependency rules', () => {
  const all = edges();

  it('finds the source tree', () => {
    expect(all.length).toBeGreaterThan(10);
  });

  it('src/api is import-type only and imports nothing outside itself', () => {
    const bad = all.filter((e) => e.from.startsWith('src/api/') && (!e.typeOnly || !e.to.startsWith('src/api/')));
    expect(bad).toEqual([]);
  });

  it('src/ below main.ts never imports codecs/ or filters/', () => {
    const bad = all.filter((e) => top(e.from) === 'src' && e.from !== 'src/main.ts' && top(e.to) !== 'src');
    expect(bad).toEqual([]);
  });

  it('codecs/ imports src/ only, and outsiders import codecs/index.ts only', () => {
    const bad = all.filter(
      (e) =>
        (top(e.from) === 'codecs' && top(e.to) === 'filters') ||
        (top(e.from) !== 'codecs' && top(e.to) === 'codecs' && e.to !== 'codecs/index.ts'),
    );
    expect(bad).toEqual([]);
  });

  it('filters never import each other', () => {
    const filterOf = (p: string) => p.split('/').slice(0, 3).join('/');
    const bad = all.filter(
      (e) => top(e.from) === 'filters' && top(e.to) === 'filters' && filterOf(e.from) !== filterOf(e.to),
    );
    expect(bad).toEqual([]);
  });
});
