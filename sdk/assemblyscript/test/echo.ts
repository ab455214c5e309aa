// The module the SDK's tests run (test/run.mjs): mutate echoes the manifest
// through the SDK's JSON reader and writer, validate reports what the
// request held, name aborts on request (to test the abort mapping) and the
// settings check rejects a settings object with "bad".
import {
  Request, Validation, Mutation, Naming, SettingsCheck, Value, Kind, parse, lastParseError,
  onValidate, onMutate, onName, onSettings, logInfo,
} from "../assembly/index";

export * from "../assembly/exports";

onMutate((req: Request, result: Mutation): void => {
  const m = req.manifest;
  if (m.get("metadata").get("labels").get("edit").asString() == "yes") {
    m.get("metadata").ensureObject("labels").set("edited", Value.fromString("by \"as\"\n"));
    m.ensureObject("spec").ensureArray("tolerations").push(Value.newObject().set("operator", Value.fromString("Exists")));
    m.get("metadata").get("labels").remove("edit");
  }
  result.change(m);
  result.warn("echoed");
});

onValidate((req: Request, result: Validation): void => {
  logInfo("validating " + req.file);
  const s = req.settings;
  if (s.get("parse").isString) {
    // settings.parse: a document to parse; the verdict reports the outcome
    const v = parse(s.get("parse").asString());
    if (v == null) result.deny("ParseError", lastParseError());
    else result.deny("Parsed", v.stringify(), kindName(v.kind));
    return;
  }
  result.deny("Facts", req.operation + "|" + req.source + "|" + req.nodeName + "|" + req.nodeLabel("zone") + "|" + req.file, "f");
  result.warn("second");
  if (s.get("fail").asBool()) result.fail("asked to fail");
});

onName((req: Request, result: Naming): void => {
  assert(req.manifest.get("metadata").get("name").asString() != "abort", "asked to abort");
  const a = new Array<i32>(1);
  const i = <i32>req.manifest.get("spec").get("index").asNumber();
  result.name = "n-" + a[i].toString(); // out of bounds for index >= 1
});

onSettings((settings: Value, result: SettingsCheck): void => {
  if (settings.get("bad").exists) result.reject("bad is bad");
});

function kindName(k: Kind): string {
  switch (k) {
    case Kind.Null: return "null";
    case Kind.Bool: return "bool";
    case Kind.Number: return "number";
    case Kind.String: return "string";
    case Kind.Array: return "array";
    case Kind.Object: return "object";
  }
  return "missing";
}
