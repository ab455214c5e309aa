// The plugin side of the staticlet ABI (docs/plugin-abi.md): requests,
// results, handler registration and the dispatch the exports call.
import { Value, parse, lastParseError, quote } from "./json";
import "./abort";

/** The ABI version this SDK implements. */
export const ABI_VERSION: i32 = 1;

/** One request from the host. */
export class Request {
  /** validate, mutate, name or validate_settings. */
  operation: string = "";
  /** The manifest file's path ("" for validate_settings). */
  file: string = "";
  /** "file" (staticPodPath) or "http" (staticPodURL). */
  source: string = "";
  /** The node's name. */
  nodeName: string = "";
  /** The node's labels (an object, or Missing). */
  nodeLabels: Value = Value.missing();
  /** The plugin's settings from the agent configuration (Missing or null when none). */
  settings: Value = Value.missing();
  /** The pod manifest (see the ABI doc for what each operation receives). */
  manifest: Value = Value.missing();
  /** The whole request document. */
  raw: Value = Value.missing();

  /** The node label key, or "" when the node has no such label. */
  nodeLabel(key: string): string {
    return this.nodeLabels.get(key).asString();
  }
}

/** One reason to reject a manifest. */
export class Denial {
  constructor(public code: string, public message: string, public field: string) {}
}

// Result holds what every response may carry: warnings and an error.
class Result {
  warnings: Array<string> = new Array<string>();
  errorMessage: string = "";

  /** Adds a warning; warnings never reject. */
  warn(message: string): void {
    this.warnings.push(message);
  }

  /**
   * Reports that the plugin could not decide (for example its settings do
   * not fit this manifest): a plugin failure, which the plugin's
   * failurePolicy handles. Other fields are then ignored.
   */
  fail(message: string): void {
    this.errorMessage = message;
  }

  protected warningsJSON(): string {
    const parts = new Array<string>();
    for (let i = 0; i < this.warnings.length; i++) parts.push(quote(unchecked(this.warnings[i])));
    return "[" + parts.join(",") + "]";
  }
}

/** A validate handler's verdict; it allows until deny is called. */
export class Validation extends Result {
  denials: Array<Denial> = new Array<Denial>();

  /** Adds a reason to reject: a short CamelCase code, a message for humans and optionally the field path. */
  deny(code: string, message: string, field: string = ""): void {
    this.denials.push(new Denial(code, message, field));
  }

  get allowed(): bool {
    return this.denials.length == 0;
  }

  toJSON(): string {
    if (this.errorMessage != "") return errorJSON(this.errorMessage);
    const parts = new Array<string>();
    for (let i = 0; i < this.denials.length; i++) {
      const d = unchecked(this.denials[i]);
      let s = "{\"code\":" + quote(d.code) + ",\"message\":" + quote(d.message);
      if (d.field != "") s += ",\"field\":" + quote(d.field);
      parts.push(s + "}");
    }
    return "{\"allowed\":" + (this.allowed ? "true" : "false") + ",\"denials\":[" + parts.join(",") +
      "],\"warnings\":" + this.warningsJSON() + "}";
  }
}

/** A mutate handler's result; unchanged until change is called. */
export class Mutation extends Result {
  manifest: Value | null = null;

  /** Sets the whole changed manifest (usually the request's, edited in place). */
  change(manifest: Value): void {
    this.manifest = manifest;
  }

  toJSON(): string {
    if (this.errorMessage != "") return errorJSON(this.errorMessage);
    const m = this.manifest;
    const manifest = m == null ? "null" : m.stringify();
    return "{\"manifest\":" + manifest + ",\"warnings\":" + this.warningsJSON() + "}";
  }
}

/** A name handler's result; "" keeps the default `<name>-<node>` rule. */
export class Naming extends Result {
  name: string = "";

  toJSON(): string {
    if (this.errorMessage != "") return errorJSON(this.errorMessage);
    return "{\"name\":" + quote(this.name) + ",\"warnings\":" + this.warningsJSON() + "}";
  }
}

/** A settings check's result; valid until reject is called. */
export class SettingsCheck {
  valid: bool = true;
  message: string = "";

  /** Refuses the settings: the agent refuses to load the chain, with message. */
  reject(message: string): void {
    this.valid = false;
    this.message = message;
  }

  toJSON(): string {
    return "{\"valid\":" + (this.valid ? "true" : "false") + ",\"message\":" + quote(this.message) + "}";
  }
}

function errorJSON(message: string): string {
  return "{\"error\":" + quote(message) + "}";
}

export type ValidateHandler = (req: Request, result: Validation) => void;
export type MutateHandler = (req: Request, result: Mutation) => void;
export type NameHandler = (req: Request, result: Naming) => void;
export type SettingsHandler = (settings: Value, result: SettingsCheck) => void;

let validateHandler: ValidateHandler | null = null;
let mutateHandler: MutateHandler | null = null;
let nameHandler: NameHandler | null = null;
let settingsHandler: SettingsHandler | null = null;

/** Offers the validate operation. Call it from top-level code. */
export function onValidate(handler: ValidateHandler): void {
  validateHandler = handler;
}

/** Offers the mutate operation. Call it from top-level code. */
export function onMutate(handler: MutateHandler): void {
  mutateHandler = handler;
}

/** Offers the name operation. Call it from top-level code. */
export function onName(handler: NameHandler): void {
  nameHandler = handler;
}

/** Checks the settings when the agent loads the plugin. Call it from top-level code. */
export function onSettings(handler: SettingsHandler): void {
  settingsHandler = handler;
}

// Operation bits of staticlet_operations.
const OP_VALIDATE: i32 = 1;
const OP_MUTATE: i32 = 2;
const OP_NAME: i32 = 4;

/** @internal The registered operations as staticlet_operations reports them. */
export function registeredOperations(): i32 {
  let bits = 0;
  if (validateHandler != null) bits |= OP_VALIDATE;
  if (mutateHandler != null) bits |= OP_MUTATE;
  if (nameHandler != null) bits |= OP_NAME;
  return bits;
}

// The last response stays referenced (so the collector keeps it) until the
// host's next call replaces it: the ABI's "valid until the next call".
let response: ArrayBuffer | null = null;

function respond(json: string): i64 {
  const buf = String.UTF8.encode(json);
  response = buf;
  return (<i64>changetype<usize>(buf) << 32) | <i64>buf.byteLength;
}

/** @internal staticlet_alloc: a buffer the host writes a request into. */
export function allocRequest(size: i32): usize {
  response = null;
  if (size <= 0) return 0;
  return heap.alloc(<usize>size);
}

// readRequest decodes the request at [ptr, ptr+len) and frees the buffer,
// which the call hands back to the guest.
function readRequest(ptr: usize, len: i32): Request | null {
  const text = String.UTF8.decodeUnsafe(ptr, <usize>len);
  heap.free(ptr);
  const root = parse(text);
  if (root == null || !root.isObject) return null;
  const req = new Request();
  req.raw = root;
  req.operation = root.get("operation").asString();
  req.file = root.get("file").asString();
  req.source = root.get("source").asString();
  const node = root.get("node");
  req.nodeName = node.get("name").asString();
  req.nodeLabels = node.get("labels");
  req.settings = root.get("settings");
  req.manifest = root.get("manifest");
  return req;
}

function badRequest(): i64 {
  const why = lastParseError();
  return respond(errorJSON("staticlet sdk: cannot decode the request: " + (why == "" ? "not a JSON object" : why)));
}

/** @internal staticlet_validate. */
export function dispatchValidate(ptr: usize, len: i32): i64 {
  const req = readRequest(ptr, len);
  if (req == null) return badRequest();
  const handler = validateHandler;
  if (handler == null) return respond(errorJSON("staticlet sdk: the plugin offers no validate operation"));
  const result = new Validation();
  handler(req, result);
  return respond(result.toJSON());
}

/** @internal staticlet_mutate. */
export function dispatchMutate(ptr: usize, len: i32): i64 {
  const req = readRequest(ptr, len);
  if (req == null) return badRequest();
  const handler = mutateHandler;
  if (handler == null) return respond(errorJSON("staticlet sdk: the plugin offers no mutate operation"));
  const result = new Mutation();
  handler(req, result);
  return respond(result.toJSON());
}

/** @internal staticlet_name. */
export function dispatchName(ptr: usize, len: i32): i64 {
  const req = readRequest(ptr, len);
  if (req == null) return badRequest();
  const handler = nameHandler;
  if (handler == null) return respond(errorJSON("staticlet sdk: the plugin offers no name operation"));
  const result = new Naming();
  handler(req, result);
  return respond(result.toJSON());
}

/** @internal staticlet_validate_settings: valid when no handler is registered. */
export function dispatchSettings(ptr: usize, len: i32): i64 {
  const req = readRequest(ptr, len);
  if (req == null) return badRequest();
  const result = new SettingsCheck();
  const handler = settingsHandler;
  if (handler != null) handler(req.settings, result);
  return respond(result.toJSON());
}
