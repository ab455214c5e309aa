// A small JSON reader and writer, enough for Kubernetes manifests and plugin
// settings: objects (key order kept), arrays, strings with every escape,
// numbers (as f64), booleans and null. AssemblyScript has no exceptions, so
// parse returns null and lastParseError() says why.

/** The kind of a JSON value. */
export enum Kind {
  /** A key or index that is not there (get on a missing key, on a non-object, ...). */
  Missing = 0,
  Null = 1,
  Bool = 2,
  Number = 3,
  String = 4,
  Array = 5,
  Object = 6,
}

const MAX_DEPTH = 512;

/**
 * A JSON value. Lookups never return null: `get` and `at` return a Missing
 * value when the key or index is not there, so paths chain:
 * `pod.get("spec").get("hostNetwork").asBool()`.
 */
export class Value {
  kind: Kind;
  private b: bool = false;
  private n: f64 = 0;
  private s: string = "";
  private items: Array<Value> | null = null;
  private keyList: Array<string> | null = null;

  constructor(kind: Kind) {
    this.kind = kind;
    if (kind == Kind.Array) this.items = new Array<Value>();
    if (kind == Kind.Object) {
      this.items = new Array<Value>();
      this.keyList = new Array<string>();
    }
  }

  static missing(): Value { return new Value(Kind.Missing); }
  static newNull(): Value { return new Value(Kind.Null); }
  static fromBool(b: bool): Value { const v = new Value(Kind.Bool); v.b = b; return v; }
  static fromNumber(n: f64): Value { const v = new Value(Kind.Number); v.n = n; return v; }
  static fromString(s: string): Value { const v = new Value(Kind.String); v.s = s; return v; }
  static newArray(): Value { return new Value(Kind.Array); }
  static newObject(): Value { return new Value(Kind.Object); }

  /** Whether the value is there (not Missing); a JSON null is there. */
  get exists(): bool { return this.kind != Kind.Missing; }
  get isNull(): bool { return this.kind == Kind.Null; }
  get isBool(): bool { return this.kind == Kind.Bool; }
  get isNumber(): bool { return this.kind == Kind.Number; }
  get isString(): bool { return this.kind == Kind.String; }
  get isArray(): bool { return this.kind == Kind.Array; }
  get isObject(): bool { return this.kind == Kind.Object; }

  /** The boolean, or false for any other kind. */
  asBool(): bool { return this.kind == Kind.Bool ? this.b : false; }
  /** The number, or 0 for any other kind. */
  asNumber(): f64 { return this.kind == Kind.Number ? this.n : 0; }
  /** The string, or "" for any other kind. */
  asString(): string { return this.kind == Kind.String ? this.s : ""; }

  /** Elements of an array, or members of an object; 0 for anything else. */
  get length(): i32 {
    const items = this.items;
    return items == null ? 0 : items.length;
  }

  /** The element at index i of an array, or Missing. */
  at(i: i32): Value {
    const items = this.items;
    if (this.kind != Kind.Array || items == null || i < 0 || i >= items.length) return Value.missing();
    return unchecked(items[i]);
  }

  /** An object's keys in document order; [] for anything else. */
  keys(): Array<string> {
    const keys = this.keyList;
    return keys == null ? new Array<string>() : keys.slice(0);
  }

  /** Whether an object has the key. */
  has(key: string): bool { return this.indexOf(key) >= 0; }

  /** The member named key of an object, or Missing. */
  get(key: string): Value {
    const i = this.indexOf(key);
    if (i < 0) return Value.missing();
    return unchecked((this.items as Array<Value>)[i]);
  }

  /** Sets an object's member (replacing it in place, or appending it). Aborts on a non-object. */
  set(key: string, value: Value): Value {
    assert(this.kind == Kind.Object, "json: set on a value that is not an object");
    const i = this.indexOf(key);
    if (i >= 0) {
      (this.items as Array<Value>)[i] = value;
    } else {
      (this.keyList as Array<string>).push(key);
      (this.items as Array<Value>).push(value);
    }
    return this;
  }

  /** Removes an object's member; reports whether it was there. */
  remove(key: string): bool {
    const i = this.indexOf(key);
    if (i < 0) return false;
    (this.keyList as Array<string>).splice(i, 1);
    (this.items as Array<Value>).splice(i, 1);
    return true;
  }

  /** Appends to an array. Aborts on a non-array. */
  push(value: Value): Value {
    assert(this.kind == Kind.Array, "json: push on a value that is not an array");
    (this.items as Array<Value>).push(value);
    return this;
  }

  /** Returns the member key, creating it as an empty object when missing (for mutations). */
  ensureObject(key: string): Value {
    const v = this.get(key);
    if (v.isObject) return v;
    const o = Value.newObject();
    this.set(key, o);
    return o;
  }

  /** Returns the member key, creating it as an empty array when missing (for mutations). */
  ensureArray(key: string): Value {
    const v = this.get(key);
    if (v.isArray) return v;
    const a = Value.newArray();
    this.set(key, a);
    return a;
  }

  /** The value as compact JSON. */
  stringify(): string {
    const out = new Array<string>();
    write(this, out);
    return out.join("");
  }

  private indexOf(key: string): i32 {
    const keys = this.keyList;
    if (this.kind != Kind.Object || keys == null) return -1;
    for (let i = 0; i < keys.length; i++) {
      if (unchecked(keys[i]) == key) return i;
    }
    return -1;
  }
}

let parseError = "";

/** Why the last parse returned null. */
export function lastParseError(): string {
  return parseError;
}

/** Parses one JSON document; null (and lastParseError()) when it is not valid JSON. */
export function parse(text: string): Value | null {
  const p = new Parser(text);
  p.skipSpace();
  const v = p.value(0);
  if (v == null) {
    parseError = p.error;
    return null;
  }
  p.skipSpace();
  if (p.pos != text.length) {
    parseError = "json: unexpected character at offset " + p.pos.toString() + " after the document";
    return null;
  }
  parseError = "";
  return v;
}

class Parser {
  pos: i32 = 0;
  error: string = "";
  constructor(public text: string) {}

  fail(what: string): Value | null {
    if (this.error == "") this.error = "json: " + what + " at offset " + this.pos.toString();
    return null;
  }

  skipSpace(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  literal(word: string): bool {
    if (this.text.substr(this.pos, word.length) != word) return false;
    this.pos += word.length;
    return true;
  }

  value(depth: i32): Value | null {
    if (depth > MAX_DEPTH) return this.fail("nested too deeply");
    if (this.pos >= this.text.length) return this.fail("unexpected end of input");
    const c = this.text.charCodeAt(this.pos);
    if (c == 0x7b) return this.obj(depth);
    if (c == 0x5b) return this.arr(depth);
    if (c == 0x22) {
      const s = this.str();
      return s == null ? null : Value.fromString(s);
    }
    if (c == 0x74) return this.literal("true") ? Value.fromBool(true) : this.fail("invalid literal");
    if (c == 0x66) return this.literal("false") ? Value.fromBool(false) : this.fail("invalid literal");
    if (c == 0x6e) return this.literal("null") ? Value.newNull() : this.fail("invalid literal");
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.num();
    return this.fail("unexpected character");
  }

  obj(depth: i32): Value | null {
    const o = Value.newObject();
    this.pos++; // {
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x7d) {
      this.pos++;
      return o;
    }
    while (true) {
      this.skipSpace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x22) return this.fail("expected a string key");
      const key = this.str();
      if (key == null) return null;
      this.skipSpace();
      if (this.pos >= this.text.length || this.text.charCodeAt(this.pos) != 0x3a) return this.fail("expected ':'");
      this.pos++;
      this.skipSpace();
      const v = this.value(depth + 1);
      if (v == null) return null;
      o.set(key, v);
      this.skipSpace();
      if (this.pos >= this.text.length) return this.fail("unexpected end of input in an object");
      const c = this.text.charCodeAt(this.pos++);
      if (c == 0x7d) return o;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or '}'");
      }
    }
  }

  arr(depth: i32): Value | null {
    const a = Value.newArray();
    this.pos++; // [
    this.skipSpace();
    if (this.pos < this.text.length && this.text.charCodeAt(this.pos) == 0x5d) {
      this.pos++;
      return a;
    }
    while (true) {
      this.skipSpace();
      const v = this.value(depth + 1);
      if (v == null) return null;
      a.push(v);
      this.skipSpace();
      if (this.pos >= this.text.length) return this.fail("unexpected end of input in an array");
      const c = this.text.charCodeAt(this.pos++);
      if (c == 0x5d) return a;
      if (c != 0x2c) {
        this.pos--;
        return this.fail("expected ',' or ']'");
      }
    }
  }

  // str reads a string at pos (which holds '"'); null on an error.
  str(): string | null {
    const t = this.text;
    this.pos++; // "
    const parts = new Array<string>();
    let start = this.pos;
    while (true) {
      if (this.pos >= t.length) {
        this.fail("unterminated string");
        return null;
      }
      const c = t.charCodeAt(this.pos);
      if (c == 0x22) {
        parts.push(t.substring(start, this.pos));
        this.pos++;
        return parts.join("");
      }
      if (c < 0x20) {
        this.fail("control character in a string");
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      parts.push(t.substring(start, this.pos));
      this.pos++; // backslash
      if (this.pos >= t.length) {
        this.fail("unterminated escape");
        return null;
      }
      const e = t.charCodeAt(this.pos++);
      if (e == 0x22) parts.push("\"");
      else if (e == 0x5c) parts.push("\\");
      else if (e == 0x2f) parts.push("/");
      else if (e == 0x62) parts.push("\b");
      else if (e == 0x66) parts.push("\f");
      else if (e == 0x6e) parts.push("\n");
      else if (e == 0x72) parts.push("\r");
      else if (e == 0x74) parts.push("\t");
      else if (e == 0x75) {
        // \uXXXX: AssemblyScript strings are UTF-16, so a surrogate pair
        // written as two escapes is two code units, as in JavaScript.
        let code = 0;
        for (let i = 0; i < 4; i++) {
          if (this.pos >= t.length) {
            this.fail("short \\u escape");
            return null;
          }
          const h = t.charCodeAt(this.pos++);
          let d = -1;
          if (h >= 0x30 && h <= 0x39) d = h - 0x30;
          else if (h >= 0x61 && h <= 0x66) d = h - 0x61 + 10;
          else if (h >= 0x41 && h <= 0x46) d = h - 0x41 + 10;
          if (d < 0) {
            this.pos--;
            this.fail("invalid \\u escape");
            return null;
          }
          code = code * 16 + d;
        }
        parts.push(String.fromCharCode(code));
      } else {
        this.pos--;
        this.fail("invalid escape");
        return null;
      }
      start = this.pos;
    }
  }

  num(): Value | null {
    const t = this.text;
    const start = this.pos;
    if (t.charCodeAt(this.pos) == 0x2d) this.pos++;
    if (this.pos >= t.length) return this.fail("invalid number");
    let c = t.charCodeAt(this.pos);
    if (c == 0x30) {
      this.pos++;
    } else if (c >= 0x31 && c <= 0x39) {
      while (this.pos < t.length && isDigit(t.charCodeAt(this.pos))) this.pos++;
    } else {
      return this.fail("invalid number");
    }
    if (this.pos < t.length && t.charCodeAt(this.pos) == 0x2e) {
      this.pos++;
      if (this.pos >= t.length || !isDigit(t.charCodeAt(this.pos))) return this.fail("invalid number");
      while (this.pos < t.length && isDigit(t.charCodeAt(this.pos))) this.pos++;
    }
    if (this.pos < t.length && (t.charCodeAt(this.pos) | 0x20) == 0x65) {
      this.pos++;
      if (this.pos < t.length) {
        c = t.charCodeAt(this.pos);
        if (c == 0x2b || c == 0x2d) this.pos++;
      }
      if (this.pos >= t.length || !isDigit(t.charCodeAt(this.pos))) return this.fail("invalid number");
      while (this.pos < t.length && isDigit(t.charCodeAt(this.pos))) this.pos++;
    }
    return Value.fromNumber(parseFloat(t.substring(start, this.pos)));
  }
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** Quotes s as a JSON string. */
export function quote(s: string): string {
  const out = new Array<string>();
  writeString(s, out);
  return out.join("");
}

const HEX = "0123456789abcdef";

function writeString(s: string, out: Array<string>): void {
  out.push("\"");
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out.push(s.substring(start, i));
    start = i + 1;
    if (c == 0x22) out.push("\\\"");
    else if (c == 0x5c) out.push("\\\\");
    else if (c == 0x0a) out.push("\\n");
    else if (c == 0x0d) out.push("\\r");
    else if (c == 0x09) out.push("\\t");
    else if (c == 0x08) out.push("\\b");
    else if (c == 0x0c) out.push("\\f");
    else out.push("\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15));
  }
  out.push(s.substring(start));
  out.push("\"");
}

function writeNumber(n: f64, out: Array<string>): void {
  if (!isFinite(n)) {
    out.push("null"); // JSON has no NaN or infinities
  } else if (n == Math.trunc(n) && Math.abs(n) < 9007199254740992) {
    out.push((<i64>n).toString()); // integers without AssemblyScript's ".0"
  } else {
    out.push(n.toString());
  }
}

function write(v: Value, out: Array<string>): void {
  switch (v.kind) {
    case Kind.Missing:
    case Kind.Null:
      out.push("null");
      break;
    case Kind.Bool:
      out.push(v.asBool() ? "true" : "false");
      break;
    case Kind.Number:
      writeNumber(v.asNumber(), out);
      break;
    case Kind.String:
      writeString(v.asString(), out);
      break;
    case Kind.Array: {
      out.push("[");
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out.push(",");
        write(v.at(i), out);
      }
      out.push("]");
      break;
    }
    case Kind.Object: {
      out.push("{");
      const keys = v.keys();
      for (let i = 0; i < keys.length; i++) {
        if (i > 0) out.push(",");
        writeString(unchecked(keys[i]), out);
        out.push(":");
        write(v.get(unchecked(keys[i])), out);
      }
      out.push("}");
      break;
    }
  }
}
