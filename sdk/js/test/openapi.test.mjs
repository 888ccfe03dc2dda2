// The SDK's types against the contract (api/openapi.json, whose schemas
// are named as the SDK's types are): a property added, removed, renamed,
// made optional or given another kind on either side fails here. The types
// are read from src/types.ts with the TypeScript compiler, not retyped.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const docPath = join(here, "../../../api/openapi.json");
const ts = createRequire(import.meta.url)("typescript");

// SDK types with no schema of their own in the contract, and why.
const NOT_IN_CONTRACT = {
  AuthSession: "the session the client keeps, never sent",
  ListInvitationsOptions: "query parameters of GET /admin/invitations",
  PublishEventOptions: "the Idempotency-Key header",
};

/** name -> { enum: string[] } | { props: Map<name, { optional, kind }> } for every export of src/types.ts. */
function sdkTypes() {
  const file = join(here, "../src/types.ts");
  const program = ts.createProgram([file], { strict: true, target: ts.ScriptTarget.ES2020, types: [] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const kindOf = (type) => {
    const parts = type.isUnion() ? type.types : [type];
    const kinds = new Set();
    for (const t of parts) {
      if (t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null)) continue;
      if (t.flags & ts.TypeFlags.TypeParameter) {
        // A generic's property (WebhookPayload<T>.data) is what its default says.
        const d = checker.getDefaultFromTypeParameter(t);
        kinds.add(d ? kindOf(d) : "any");
      } else if (t.flags & ts.TypeFlags.Unknown || t.flags & ts.TypeFlags.Any) kinds.add("any");
      else if (t.flags & ts.TypeFlags.StringLike) kinds.add("string");
      else if (t.flags & ts.TypeFlags.NumberLike) kinds.add("number");
      else if (t.flags & ts.TypeFlags.BooleanLike) kinds.add("boolean");
      else if (checker.isArrayType(t)) kinds.add("array");
      else kinds.add("object");
    }
    return kinds.size === 1 ? [...kinds][0] : [...kinds].sort().join("|");
  };
  const out = new Map();
  for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(source))) {
    const decl = sym.declarations[0];
    if (!ts.isInterfaceDeclaration(decl) && !ts.isTypeAliasDeclaration(decl)) continue;
    const type = checker.getDeclaredTypeOfSymbol(sym);
    if (type.isUnion() && type.types.every((t) => t.isStringLiteral())) {
      out.set(sym.name, { enum: type.types.map((t) => t.value).sort() });
      continue;
    }
    const props = new Map();
    for (const p of checker.getPropertiesOfType(type)) {
      const optional = (p.flags & ts.SymbolFlags.Optional) !== 0;
      props.set(p.name, { optional, kind: kindOf(checker.getTypeOfSymbolAtLocation(p, decl)) });
    }
    out.set(sym.name, { props });
  }
  return out;
}

/** The same view of a contract schema, following $ref and allOf. */
function contractType(doc, schema) {
  const deref = (s) => {
    while (s && s.$ref) s = doc.components.schemas[s.$ref.split("/").pop()];
    return s;
  };
  schema = deref(schema);
  const merged = { properties: {}, required: [] };
  for (const part of schema.allOf ? schema.allOf.map(deref) : [schema]) {
    Object.assign(merged.properties, part.properties ?? {});
    merged.required.push(...(part.required ?? []));
    if (part.enum) merged.enum = part.enum;
  }
  if (merged.enum) return { enum: [...merged.enum].filter((v) => v !== null).sort() };
  const kindOf = (s) => {
    s = deref(s);
    if (!s) return "any";
    const alts = s.oneOf ?? s.anyOf;
    if (alts) {
      const ks = [...new Set(alts.map(kindOf).filter((k) => k !== "null"))].sort();
      return ks.length === 1 ? ks[0] : ks.join("|");
    }
    if (s.enum && s.type === undefined) return typeof s.enum[0] === "string" ? "string" : "any";
    const types = (Array.isArray(s.type) ? s.type : [s.type]).filter((t) => t && t !== "null");
    if (types.length === 0) return s.properties ? "object" : "any";
    const ks = [...new Set(types.map((t) => (t === "integer" ? "number" : t)))].sort();
    return ks.length === 1 ? ks[0] : ks.join("|");
  };
  const props = new Map();
  for (const [name, s] of Object.entries(merged.properties)) {
    props.set(name, { optional: !merged.required.includes(name), kind: kindOf(s) });
  }
  return { props };
}

test("the SDK's types and the OpenAPI document describe the same shapes", { skip: !existsSync(docPath) && "api/openapi.json is absent" }, () => {
  const doc = JSON.parse(readFileSync(docPath, "utf8"));
  const schemas = doc.components?.schemas ?? {};
  const problems = [];
  const sdk = sdkTypes();
  assert.ok(sdk.size > 30, `read only ${sdk.size} types from src/types.ts`);
  for (const [name, mine] of sdk) {
    if (!schemas[name]) {
      if (!NOT_IN_CONTRACT[name]) problems.push(`${name}: no schema of that name in the contract`);
      continue;
    }
    const theirs = contractType(doc, schemas[name]);
    if (mine.enum || theirs.enum) {
      if (JSON.stringify(mine.enum) !== JSON.stringify(theirs.enum)) {
        problems.push(`${name}: values ${JSON.stringify(mine.enum)} in the SDK, ${JSON.stringify(theirs.enum)} in the contract`);
      }
      continue;
    }
    for (const [p, m] of mine.props) {
      const t = theirs.props.get(p);
      if (!t) {
        problems.push(`${name}.${p}: in the SDK, not in the contract`);
        continue;
      }
      if (m.optional !== t.optional) problems.push(`${name}.${p}: ${m.optional ? "optional" : "required"} in the SDK, ${t.optional ? "optional" : "required"} in the contract`);
      if (m.kind !== t.kind && m.kind !== "any" && t.kind !== "any") problems.push(`${name}.${p}: ${m.kind} in the SDK, ${t.kind} in the contract`);
    }
    for (const p of theirs.props.keys()) {
      if (!mine.props.has(p)) problems.push(`${name}.${p}: in the contract, not in the SDK`);
    }
  }
  for (const name of Object.keys(NOT_IN_CONTRACT)) {
    if (!sdk.has(name)) problems.push(`NOT_IN_CONTRACT names ${name}, which the SDK no longer has`);
  }
  assert.deepEqual(problems, [], "the SDK's types and api/openapi.json disagree:\n" + problems.join("\n"));
});

test("every type of src/types.ts is exported by the package", () => {
  const files = ["types.ts", "index.ts"].map((f) => join(here, "../src", f));
  const program = ts.createProgram(files, { strict: true, target: ts.ScriptTarget.ES2020, types: [] });
  const checker = program.getTypeChecker();
  const names = (f) => checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(f))).map((s) => s.name);
  const exported = new Set(names(files[1]));
  assert.deepEqual(names(files[0]).filter((n) => !exported.has(n)), []);
});
