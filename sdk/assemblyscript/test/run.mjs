// Tests of the AssemblyScript SDK: test/echo.ts is compiled with the pinned
// asc (as a plugin is, with asconfig.base.json) and driven through the ABI
// exactly as the host calls it: staticlet_alloc, the request bytes, the
// operation, the packed (ptr << 32 | len) response. Node provides the two
// imports the SDK uses (staticlet.log, wasi fd_write) and records them.
// The reference plugin (plugins/host-namespaces-as) runs on the real host
// in `make sdk-as-test`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "build", "echo.wasm");
mkdirSync(join(root, "build"), { recursive: true });
execFileSync(process.execPath, [join(root, "node_modules", "assemblyscript", "bin", "asc.js"),
  "test/echo.ts", "--config", "asconfig.base.json", "--target", "release", "-o", out], { cwd: root, stdio: "inherit" });
const wasm = new WebAssembly.Module(readFileSync(out));

function instantiate() {
  const logs = [];
  let stderr = "";
  let memory;
  const instance = new WebAssembly.Instance(wasm, {
    staticlet: {
      log(level, ptr, len) {
        logs.push([level, Buffer.from(memory.buffer, ptr, len).toString("utf8")]);
      },
    },
    wasi_snapshot_preview1: {
      fd_write(fd, iovs, n, written) {
        const view = new DataView(memory.buffer);
        let total = 0;
        for (let i = 0; i < n; i++) {
          const p = view.getUint32(iovs + 8 * i, true), l = view.getUint32(iovs + 8 * i + 4, true);
          if (fd === 2) stderr += Buffer.from(memory.buffer, p, l).toString("utf8");
          total += l;
        }
        view.setUint32(written, total, true);
        return 0;
      },
    },
  });
  memory = instance.exports.memory;
  return {
    exports: instance.exports,
    logs,
    stderr: () => stderr,
    // call sends a request as the host does and returns the response text.
    call(op, request) {
      const bytes = Buffer.from(typeof request === "string" ? request : JSON.stringify(request), "utf8");
      const ptr = instance.exports.staticlet_alloc(bytes.length);
      assert.notEqual(ptr, 0);
      new Uint8Array(memory.buffer, ptr, bytes.length).set(bytes);
      const packed = BigInt.asUintN(64, instance.exports["staticlet_" + op](ptr, bytes.length));
      const rptr = Number(packed >> 32n), rlen = Number(packed & 0xffffffffn);
      return Buffer.from(memory.buffer, rptr, rlen).toString("utf8");
    },
  };
}

const manifest = {
  apiVersion: "v1", kind: "Pod",
  metadata: { name: "web", namespace: "default", labels: { app: "web" },
    annotations: { text: "quote \" backslash \\ slash / controls \b\f\n\r\t\u0001 unicode café ☕ 🚀 \u2028" } },
  spec: { containers: [{ name: "c", image: "nginx", ports: [{ containerPort: 8080 }],
    resources: { limits: { cpu: 0.5, memory: 134217728 } } }], hostNetwork: false, priority: -12,
    numbers: [0, -0.25, 1e21, 1.5e-7, 9007199254740991, 123456789012], empty: {}, none: null, list: [] },
};

test("exports the ABI version and only the registered operations", () => {
  const { exports } = instantiate();
  assert.equal(exports.staticlet_abi_version(), 1);
  assert.equal(exports.staticlet_operations(), 7);
});

test("mutate echoes a manifest through the JSON reader and writer unchanged", () => {
  const p = instantiate();
  const resp = JSON.parse(p.call("mutate", { abiVersion: 1, operation: "mutate", manifest }));
  assert.deepEqual(resp.manifest, manifest);
  assert.deepEqual(resp.warnings, ["echoed"]);
});

test("mutate edits in place: set, remove, ensureObject, ensureArray", () => {
  const p = instantiate();
  const m = structuredClone(manifest);
  m.metadata.labels.edit = "yes";
  const resp = JSON.parse(p.call("mutate", { operation: "mutate", manifest: m }));
  const want = structuredClone(manifest);
  want.metadata.labels.edited = "by \"as\"\n";
  want.spec.tolerations = [{ operator: "Exists" }];
  assert.deepEqual(resp.manifest, want);
});

test("the request's fields reach the handler; warnings, field and fail are answered", () => {
  const p = instantiate();
  const req = { operation: "validate", source: "file", file: "/etc/kubernetes/manifests/ä.yaml",
    node: { name: "worker-1", labels: { zone: "eu-1" } }, settings: {}, manifest };
  assert.deepEqual(JSON.parse(p.call("validate", req)), {
    allowed: false, warnings: ["second"],
    denials: [{ code: "Facts", field: "f", message: "validate|file|worker-1|eu-1|/etc/kubernetes/manifests/ä.yaml" }],
  });
  assert.deepEqual(p.logs, [[2, "validating /etc/kubernetes/manifests/ä.yaml"]]);
  assert.deepEqual(JSON.parse(p.call("validate", { ...req, settings: { fail: true } })), { error: "asked to fail" });
});

test("parse accepts valid JSON and names what is wrong with invalid JSON", () => {
  const p = instantiate();
  const verdict = (doc) => JSON.parse(p.call("validate", { operation: "validate", settings: { parse: doc } })).denials[0];
  const good = {
    "  {\"a\" : [1, {\"b\": null}] , \"c\": \"\\u00e9\\ud83d\\ude80\"}  ": ["{\"a\":[1,{\"b\":null}],\"c\":\"é🚀\"}", "object"],
    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"": [JSON.stringify("\"\\/\b\f\n\r\t"), "string"],
    "-0.5e+2": ["-50", "number"],
    "true": ["true", "bool"],
    "[]": ["[]", "array"],
    "null": ["null", "null"],
  };
  for (const [doc, [text, kind]] of Object.entries(good)) {
    assert.deepEqual(verdict(doc), { code: "Parsed", message: text, field: kind }, doc);
  }
  const bad = {
    "": "unexpected end of input",
    "{\"a\" 1}": "expected ':'",
    "{\"a\":1,}": "expected a string key",
    "[1 2]": "expected ',' or ']'",
    "\"abc": "unterminated string",
    "\"a\nb\"": "control character in a string",
    "\"\\x\"": "invalid escape",
    "\"\\u12g4\"": "invalid \\u escape",
    "01": "after the document",
    "1.": "invalid number",
    "-": "invalid number",
    "1e": "invalid number",
    "tru": "invalid literal",
    "{} {}": "after the document",
    ["[".repeat(600)]: "nested too deeply",
  };
  for (const [doc, why] of Object.entries(bad)) {
    const d = verdict(doc);
    assert.equal(d.code, "ParseError", doc);
    assert.match(d.message, new RegExp(why.replace(/[\\[\]()]/g, "\\$&")), doc);
  }
});

test("a request that is not JSON is answered with an error, not a trap", () => {
  const p = instantiate();
  const resp = JSON.parse(p.call("validate", "{\"operation\": "));
  assert.match(resp.error, /cannot decode the request: json: unexpected end of input at offset 14/);
  assert.equal(JSON.parse(p.call("mutate", { manifest })).manifest.kind, "Pod", "the instance still works");
});

test("settings: valid unless the handler rejects them", () => {
  const p = instantiate();
  assert.deepEqual(JSON.parse(p.call("validate_settings", { operation: "validate_settings", settings: { a: 1 } })), { valid: true, message: "" });
  assert.deepEqual(JSON.parse(p.call("validate_settings", { operation: "validate_settings", settings: { bad: 1 } })), { valid: false, message: "bad is bad" });
});

test("abort (assert, bounds) writes its message and location to stderr and traps, with no env import", () => {
  assert.deepEqual(WebAssembly.Module.imports(wasm).map((i) => i.module + "." + i.name).sort(),
    ["staticlet.log", "wasi_snapshot_preview1.fd_write"]);
  let p = instantiate();
  assert.throws(() => p.call("name", { operation: "name", manifest: { metadata: { name: "abort" } } }), WebAssembly.RuntimeError);
  assert.match(p.stderr(), /^abort: asked to abort at test\/echo\.ts:\d+:\d+\n$/);
  p = instantiate();
  assert.throws(() => p.call("name", { operation: "name", manifest: { metadata: { name: "x" }, spec: { index: 5 } } }), WebAssembly.RuntimeError);
  assert.match(p.stderr(), /^abort: Index out of range at ~lib\/array\.ts:\d+:\d+\n$/);
  p = instantiate();
  assert.deepEqual(JSON.parse(p.call("name", { manifest: { metadata: { name: "x" }, spec: { index: 0 } } })), { name: "n-0", warnings: [] });
});

test("many calls on one instance do not grow memory without bound (responses and requests are freed)", () => {
  const p = instantiate();
  const req = { operation: "mutate", manifest };
  for (let i = 0; i < 200; i++) p.call("mutate", req);
  const after200 = p.exports.memory.buffer.byteLength;
  for (let i = 0; i < 2000; i++) p.call("mutate", req);
  assert.equal(p.exports.memory.buffer.byteLength, after200);
});
