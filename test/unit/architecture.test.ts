// The layer rules of ARCHITECTURE.md ("Layers and their rules"), checked over the import graph of
// every .ts file under core/, kernel/, plugins/, ipam/ and cli/: which folder may import which,
// who may load and call the native addon, where `process.env` and `node:child_process` may be
// used, kernel/'s synchronous rule, the lazy loading of plugins and the one IP-address module
// (core/ip.ts). Files are parsed with the TypeScript compiler (syntax only); static imports,
// `export … from`, dynamic `import()`, `require()` and `process.getBuiltinModule()` all count,
// type-only imports included (marked "(type)"). A violation reads "importer → imported: rule broken".
import * as fs from "node:fs";
import { isBuiltin } from "node:module";
import * as path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const REPO = path.resolve(__dirname, "../..");
const LAYERS = ["core", "kernel", "plugins", "ipam", "cli"] as const;
type Layer = (typeof LAYERS)[number];

interface Edge {
  from: string;
  /** A repository file ("core/ip.ts"), "node:<builtin>", or a package name. */
  to: string;
  typeOnly: boolean;
  dynamic: boolean;
}

interface FileFacts {
  file: string;
  text: string;
  edges: Edge[];
  /** `process.env.NAME` → NAME; the whole object (`process.env`, `process["env"]`, `{ env } = process`) → "*". */
  envReads: string[];
  /** Functions (by the name they are declared or assigned under) that are async, await or deal in Promises. */
  asyncNames: string[];
  /** Names the file declares and exports itself (re-exports not included). */
  exported: string[];
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(REPO, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...listTs(rel));
    else if (e.name.endsWith(".ts")) out.push(rel);
  }
  return out.sort();
}

function resolveRelative(from: string, spec: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec)).replace(/\.js$/, "");
  for (const c of [base, `${base}.ts`, `${base}/index.ts`]) {
    const abs = path.join(REPO, c);
    if (fs.existsSync(abs) && fs.statSync(abs).isFile()) return c;
  }
  return `unresolved:${base}`;
}

function target(from: string, spec: string): string {
  if (spec.startsWith(".")) return resolveRelative(from, spec);
  if (spec.startsWith("node:")) return spec;
  const pkg = spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
  return isBuiltin(pkg) ? `node:${pkg}` : pkg;
}

const isProcess = (n: ts.Node) => ts.isIdentifier(n) && n.text === "process";

/** The name a function-like node goes by: its own, or the variable/property it is assigned to. */
function nameOf(n: ts.Node): string | undefined {
  for (let p: ts.Node | undefined = n; p; p = p.parent) {
    if ((ts.isFunctionDeclaration(p) || ts.isMethodDeclaration(p) || ts.isMethodSignature(p) || ts.isPropertySignature(p) ||
      ts.isPropertyAssignment(p) || ts.isVariableDeclaration(p) || ts.isPropertyDeclaration(p)) && p.name) {
      return p.name.getText();
    }
  }
  return undefined;
}

function scan(file: string, text = fs.readFileSync(path.join(REPO, file), "utf8")): FileFacts {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const facts: FileFacts = { file, text, edges: [], envReads: [], asyncNames: [], exported: [] };
  const isExported = (n: ts.Node) => ts.canHaveModifiers(n) && !!ts.getModifiers(n)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  for (const st of sf.statements) {
    if (!isExported(st)) continue;
    if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) facts.exported.push(st.name.text);
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) facts.exported.push(d.name.text);
  }
  const edge = (spec: string, typeOnly: boolean, dynamic: boolean) => facts.edges.push({ from: file, to: target(file, spec), typeOnly, dynamic });
  const asyncAt = (n: ts.Node) => facts.asyncNames.push(nameOf(n) ?? `(anonymous at line ${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1})`);

  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) &&
        c.namedBindings.elements.length > 0 && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      edge(n.moduleSpecifier.text, typeOnly, false);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      edge(n.moduleSpecifier.text, n.isTypeOnly, false);
    } else if (ts.isImportEqualsDeclaration(n) && ts.isExternalModuleReference(n.moduleReference) && ts.isStringLiteral(n.moduleReference.expression)) {
      edge(n.moduleReference.expression.text, n.isTypeOnly, false);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
      edge(n.argument.literal.text, true, false);
    } else if (ts.isCallExpression(n) && n.arguments.length > 0 && ts.isStringLiteralLike(n.arguments[0]!)) {
      const spec = (n.arguments[0] as ts.StringLiteralLike).text;
      const callee = n.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) edge(spec, false, true);
      else if (ts.isIdentifier(callee) && callee.text === "require") edge(spec, false, false);
      else if (ts.isPropertyAccessExpression(callee) && isProcess(callee.expression) && callee.name.text === "getBuiltinModule") edge(spec, false, true);
    }
    // process.env
    if (ts.isPropertyAccessExpression(n) && isProcess(n.expression) && n.name.text === "env") {
      const p = n.parent;
      facts.envReads.push(ts.isPropertyAccessExpression(p) && p.expression === n ? p.name.text :
        ts.isElementAccessExpression(p) && p.expression === n && ts.isStringLiteralLike(p.argumentExpression) ? p.argumentExpression.text : "*");
    } else if (ts.isElementAccessExpression(n) && isProcess(n.expression) && ts.isStringLiteralLike(n.argumentExpression) && n.argumentExpression.text === "env") {
      facts.envReads.push("*");
    } else if (ts.isVariableDeclaration(n) && n.initializer && isProcess(n.initializer) && ts.isObjectBindingPattern(n.name) &&
      n.name.elements.some((e) => (e.propertyName ?? e.name).getText() === "env")) {
      facts.envReads.push("*");
    }
    // async, await, Promise
    if ((ts.isFunctionLike(n) && ts.getCombinedModifierFlags(n as ts.Declaration) & ts.ModifierFlags.Async) || ts.isAwaitExpression(n) ||
      (ts.isIdentifier(n) && n.text === "Promise")) {
      asyncAt(n);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return facts;
}

const FILES = LAYERS.flatMap((l) => listTs(l));
const FACTS = new Map(FILES.map((f) => [f, scan(f)]));
const EDGES = [...FACTS.values()].flatMap((f) => f.edges);

const layerOf = (file: string): Layer | undefined => LAYERS.find((l) => file.startsWith(`${l}/`));
/** plugins/bridge/add.ts → plugins/bridge; ipam/host-local/x.ts → ipam/host-local. */
const pluginOf = (file: string) => file.split("/").slice(0, 2).join("/");
const show = (e: Edge, rule: string) => `${e.from} → ${e.to}${e.typeOnly ? " (type)" : ""}${e.dynamic ? " (dynamic)" : ""}: ${rule}`;

/** What kernel/ may import from core/: modules that import nothing of ours but each other. */
const KERNEL_MAY_IMPORT_FROM_CORE = ["core/errors.ts", "core/request.ts", "core/ip.ts"];

/** The one rule per layer about our own files (ARCHITECTURE.md, "may import"). */
function layerRule(e: Edge): string | undefined {
  const from = layerOf(e.from)!;
  if (e.to.startsWith("unresolved:")) return "does not resolve to a file";
  if (!e.to.includes("/") || e.to.startsWith("node:") || !e.to.endsWith(".ts")) return undefined; // builtins and packages: below
  const to = layerOf(e.to);
  if (!to) return `${from}/ imports only from core/, kernel/, plugins/, ipam/, cli/`;
  switch (from) {
    case "core":
      return to === "core" ? undefined : "core/ imports nothing else of ours";
    case "kernel":
      return to === "kernel" || KERNEL_MAY_IMPORT_FROM_CORE.includes(e.to) ? undefined : `kernel/ imports only kernel/ and ${KERNEL_MAY_IMPORT_FROM_CORE.join(", ")}`;
    case "plugins":
    case "ipam":
      if (to === "core" || to === "kernel" || pluginOf(e.to) === pluginOf(e.from)) return undefined;
      return "a plugin imports only core/, kernel/ and its own folder";
    case "cli":
      return undefined;
  }
}

/** Files that may read the process's environment, with the variables each may read ("*": the whole object), and why. */
const ENV_ALLOWED: Record<string, { vars: string[]; why: string }> = {
  "kernel/native.ts": { vars: ["TSCNI_NATIVE", "XDG_RUNTIME_DIR"], why: "the addon loader: a development build's addon, and a non-root user's unpack directory" },
  "kernel/bpf/objects.ts": { vars: ["TSCNI_BPF_DIR"], why: "BPF objects from a directory instead of the executable (development, tests)" },
  "cli/main.ts": { vars: ["*", "CNI_COMMAND"], why: "the process entry point hands its environment to the dispatcher as data" },
  "cli/install-cni.ts": { vars: ["*"], why: "`tscni install`'s default environment (a command, not the CNI path)" },
  "cli/daemon/command.ts": { vars: ["UV_THREADPOOL_SIZE"], why: "sizes libuv's pool before the daemon's first use of it" },
  "cli/daemon/worker.ts": { vars: ["TSCNI_DAEMON_FAULT"], why: "the daemon's fault injection, for its tests" },
};

/** The files of core/ with effects (the only ones that may use Node's modules). */
const CORE_EFFECTS = ["core/delegate.ts", "core/log.ts"];

/** Files that may start processes (node:child_process). */
const CHILD_PROCESS_ALLOWED = (f: string) => f === "core/delegate.ts" || f === "kernel/tools.ts" || layerOf(f) === "cli";

/** Files that may load the addon with process.dlopen: the loader, and the daemon's acceptor thread (its own small script). */
const DLOPEN_ALLOWED = ["kernel/native.ts", "kernel/unix-socket.ts"];

/** IP-address parsing and printing (parseIP, formatIp, parseCidr, parseAddr, …): one module for all of it. */
const IP_TEXT = /^(parse|format)(ip|addr|cidr|ipnet)(bytes|orcidr)?$/i;
const IP_MODULE = "core/ip.ts";

/** kernel/ is synchronous; the named exception: a request written from libuv's pool (`…InBackground`). */
const ASYNC_ALLOWED = /InBackground$/;

/** The files a file loads at start, following static (non-type) imports of our own files. */
function staticClosure(root: string): Set<string> {
  const seen = new Set<string>();
  const go = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const e of FACTS.get(f)?.edges ?? []) if (!e.typeOnly && !e.dynamic && FACTS.has(e.to)) go(e.to);
  };
  go(root);
  return seen;
}

describe("import graph (ARCHITECTURE.md, layers and their rules)", () => {
  it("sees the files and the kinds of use it checks", () => {
    expect(FILES.length).toBeGreaterThan(100);
    const has = (from: string, to: string, dynamic = false) => EDGES.some((e) => e.from === from && e.to === to && e.dynamic === dynamic);
    expect(has("kernel/netlink/socket.ts", "kernel/native.ts")).toBe(true);
    expect(has("cli/registry.ts", "plugins/bridge/index.ts", true)).toBe(true);
    expect(has("kernel/tools.ts", "node:child_process", true)).toBe(true);
    expect(EDGES.some((e) => e.typeOnly)).toBe(true);
    expect(FACTS.get("kernel/native.ts")!.envReads).toContain("TSCNI_NATIVE");
    expect(FACTS.get("kernel/netlink/socket.ts")!.asyncNames).toContain("requestInBackground");
  });

  it("the scanner catches every form of import, environment read and asynchrony", () => {
    const f = scan("kernel/x.ts", [
      `import { a } from "../core/config";`, `import type { B } from "./netlink/index";`, `export * from "../plugins/bridge/add";`,
      `const m = await import("./tools");`, `const c = require("child_process");`, `process.getBuiltinModule("node:child_process");`,
      `const e = process.env.A; const all = process.env; const b = process["env"]; const { env } = process;`,
      `async function f() {}`, `const g = () => new Promise(() => {});`, `export const h = async () => 1;`,
    ].join("\n"));
    expect(f.edges.map((e) => [e.to, e.typeOnly, e.dynamic])).toEqual([
      ["core/config.ts", false, false], ["kernel/netlink/index.ts", true, false], ["plugins/bridge/add.ts", false, false],
      ["kernel/tools.ts", false, true], ["node:child_process", false, false], ["node:child_process", false, true],
    ]);
    expect(f.envReads).toEqual(["A", "*", "*", "*"]);
    expect(new Set(f.asyncNames)).toEqual(new Set(["m", "f", "g", "h"]));
    expect(f.exported).toEqual(["h"]);
    expect(f.edges.map((e) => layerRule(e))).toEqual([expect.stringMatching(/^kernel\//), undefined, expect.stringMatching(/^kernel\//), undefined, undefined, undefined]);
  });

  it("every layer imports only what its row allows", () => {
    const bad = EDGES.flatMap((e) => {
      const rule = layerRule(e);
      return rule ? [show(e, rule)] : [];
    });
    expect(bad).toEqual([]);
  });

  it("no package of the registry outside cli/ (and yargs only in cli/commands.ts)", () => {
    const bad = EDGES.filter((e) => !e.to.endsWith(".ts") && !e.to.startsWith("node:") && !e.to.startsWith("unresolved:"))
      .filter((e) => layerOf(e.from) !== "cli" || (e.to === "yargs" && e.from !== "cli/commands.ts"))
      .map((e) => show(e, "packages only in cli/, yargs only in cli/commands.ts"));
    expect(bad).toEqual([]);
  });

  it("the addon is reached only from kernel/: kernel/native is imported by kernel/ alone, dlopen only in the loader and the acceptor", () => {
    const bad = EDGES.filter((e) => e.to === "kernel/native.ts" && layerOf(e.from) !== "kernel")
      .map((e) => show(e, "kernel/native is imported only from kernel/"));
    for (const f of FACTS.values()) {
      if (/\bdlopen\s*\(/.test(f.text) && !DLOPEN_ALLOWED.includes(f.file)) bad.push(`${f.file} → the addon (dlopen): only ${DLOPEN_ALLOWED.join(", ")} load it`);
    }
    expect(bad).toEqual([]);
  });

  it("process.env only in the places named, each reading only its variables", () => {
    const bad: string[] = [];
    for (const f of FACTS.values()) {
      for (const v of f.envReads) {
        if (!ENV_ALLOWED[f.file]?.vars.includes(v)) bad.push(`${f.file} → process.env${v === "*" ? "" : `.${v}`}: the environment is data from the dispatcher (core/request.ts), not process.env`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("every process.env exception is still used and named in ARCHITECTURE.md", () => {
    const arch = fs.readFileSync(path.join(REPO, "ARCHITECTURE.md"), "utf8");
    const bad: string[] = [];
    for (const [file, { vars }] of Object.entries(ENV_ALLOWED)) {
      for (const v of vars) if (!FACTS.get(file)?.envReads.includes(v)) bad.push(`${file} → process.env${v === "*" ? "" : `.${v}`}: allowed but no longer read (drop the exception)`);
      const named = vars.filter((v) => v !== "*");
      if (!arch.split("\n").some((l) => l.includes(`\`${file}\``) && named.every((v) => l.includes(v)))) {
        bad.push(`${file} → process.env${named.length ? `.{${named.join(", ")}}` : ""}: an exception ARCHITECTURE.md does not name (one line naming the file and its variables)`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("core/ is pure: Node's modules only in core/delegate.ts (exec) and core/log.ts (the debug file)", () => {
    const bad = EDGES.filter((e) => layerOf(e.from) === "core" && e.to.startsWith("node:") && !CORE_EFFECTS.includes(e.from))
      .map((e) => show(e, `core/ has no effects but in ${CORE_EFFECTS.join(", ")}`));
    expect(bad).toEqual([]);
  });

  it("one IP-address module: only core/ip.ts declares IP parsing and printing", () => {
    const bad = [...FACTS.values()].filter((f) => f.file !== IP_MODULE)
      .flatMap((f) => f.exported.filter((n) => IP_TEXT.test(n)).map((n) => `${f.file} → ${n}: addresses are parsed and printed by ${IP_MODULE} only`));
    expect(bad).toEqual([]);
    expect(FACTS.get(IP_MODULE)!.exported).toEqual(expect.arrayContaining(["parseIP", "formatIP", "parseAddr", "formatAddr", "parseCidr"]));
  });

  it("node:child_process only in core/delegate.ts, kernel/tools.ts and cli/", () => {
    const bad = EDGES.filter((e) => (e.to === "node:child_process") && !CHILD_PROCESS_ALLOWED(e.from))
      .map((e) => show(e, "processes are started only by core/delegate.ts, kernel/tools.ts and cli/"));
    expect(bad).toEqual([]);
  });

  it("kernel/ is synchronous: nothing async, awaited or promised but the …InBackground request", () => {
    const bad = [...FACTS.values()].filter((f) => layerOf(f.file) === "kernel")
      .flatMap((f) => [...new Set(f.asyncNames)].filter((n) => !ASYNC_ALLOWED.test(n)).map((n) => `${f.file} → ${n}: kernel/ is synchronous (only …InBackground is not)`));
    expect(bad).toEqual([]);
  });

  it("a call loads only the called plugin: cli/main.ts reaches no plugin and no yargs statically, a plugin no other plugin", () => {
    const bad: string[] = [];
    const plugins = [...new Set(FILES.filter((f) => layerOf(f) === "plugins" || layerOf(f) === "ipam").map(pluginOf))];
    for (const f of staticClosure("cli/main.ts")) {
      if (plugins.includes(pluginOf(f)) || f === "cli/commands.ts") bad.push(`cli/main.ts → ${f}: loaded at start (make it a dynamic import)`);
    }
    for (const p of plugins) {
      for (const f of staticClosure(`${p}/index.ts`)) {
        if (plugins.includes(pluginOf(f)) && pluginOf(f) !== p) bad.push(`${p}/index.ts → ${f}: one plugin loads another`);
      }
    }
    expect(bad).toEqual([]);
  });
});
