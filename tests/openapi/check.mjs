// The OpenAPI document's checks, with maintained validators (the lock file pins them):
//   node check.mjs validate docs/openapi.yaml
//       the document against the OpenAPI 3.1 schema (@seriousme/openapi-schema-validator), and
//       every example in it against the schema it illustrates (Ajv, JSON Schema 2020-12);
//   node check.mjs json docs/openapi.yaml
//       prints the document as JSON (for tests/integration/test_openapi.py);
//   node check.mjs bodies docs/openapi.yaml CASES.json
//       CASES.json is [{"what": ..., "schema": "#/json/pointer/to/a/schema", "body": ...}];
//       prints one line per body that does not match its schema, and exits 1 if any.
// Runs on Node.js 18 (Debian 12) and later.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { parse } from "yaml";

const [command, file, extra] = process.argv.slice(2);
if (!command || !file) {
  console.error("usage: node check.mjs validate|json|bodies OPENAPI.yaml [CASES.json]");
  process.exit(2);
}
const text = readFileSync(file, "utf8");
const doc = parse(text);

// One Ajv holding the whole document, so that "$ref": "openapi#/components/..." resolves.
function ajvFor(document) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(document, "openapi");
  return ajv;
}

function escape(segment) {
  return String(segment).replace(/~/g, "~0").replace(/\//g, "~1");
}

// Every `example` / `examples` beside a schema (media types, parameters), with that schema's
// pointer. components/examples are checked where they are used.
function examplesOf(document) {
  const out = [];
  const deref = (node) => {
    while (node && typeof node === "object" && typeof node.$ref === "string") {
      const path = node.$ref.replace(/^#\//, "").split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
      node = path.reduce((o, k) => (o ? o[k] : undefined), document);
    }
    return node;
  };
  const walk = (node, pointer) => {
    if (!node || typeof node !== "object") return;
    if (node.schema && typeof node.schema === "object" && !pointer.includes("/schemas/")) {
      if ("example" in node) out.push({ what: pointer + "/example", schema: "#" + pointer + "/schema", body: node.example });
      for (const [name, ex] of Object.entries(node.examples || {})) {
        const value = deref(ex);
        if (value && "value" in value)
          out.push({ what: pointer + "/examples/" + name, schema: "#" + pointer + "/schema", body: value.value });
      }
    }
    for (const [k, v] of Object.entries(node)) {
      if (k === "examples" || k === "example") continue;
      walk(v, pointer + "/" + escape(k));
    }
  };
  walk(document.paths, "/paths");
  walk(document.components?.responses, "/components/responses");
  walk(document.components?.parameters, "/components/parameters");
  walk(document.webhooks, "/webhooks");
  return out;
}

function checkBodies(ajv, cases) {
  const failed = [];
  for (const c of cases) {
    let validate;
    try {
      validate = ajv.compile({ $ref: "openapi" + c.schema });
    } catch (e) {
      failed.push(`${c.what}: no schema at ${c.schema} (${e.message})`);
      continue;
    }
    if (!validate(c.body))
      failed.push(`${c.what}: ${JSON.stringify(c.body).slice(0, 300)} does not match ${c.schema}: ` +
                  ajv.errorsText(validate.errors));
  }
  return failed;
}

if (command === "json") {
  process.stdout.write(JSON.stringify(doc));
} else if (command === "validate") {
  const validator = new Validator();
  const res = await validator.validate(text);
  if (!res.valid) {
    console.error(`${file}: not a valid OpenAPI ${validator.version ?? ""} document:`);
    console.error(JSON.stringify(res.errors, null, 2));
    process.exit(1);
  }
  if (validator.version !== "3.1") {
    console.error(`${file}: OpenAPI ${validator.version}, expected 3.1`);
    process.exit(1);
  }
  const cases = examplesOf(doc);
  const failed = checkBodies(ajvFor(doc), cases);
  for (const f of failed) console.error("example " + f);
  if (failed.length) process.exit(1);
  console.log(`${file}: valid OpenAPI ${validator.version}; ${cases.length} examples match their schemas`);
} else if (command === "bodies") {
  const cases = JSON.parse(readFileSync(extra, "utf8"));
  const failed = checkBodies(ajvFor(doc), cases);
  for (const f of failed) console.log(f);
  process.exit(failed.length ? 1 : 0);
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
