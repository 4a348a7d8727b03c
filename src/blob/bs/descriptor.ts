import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';

/**
 * A message type's google.protobuf.DescriptorProto with the bytes protoc gives it, which is what bs's
 * anchor.PutProto stores for a Go message (protodesc.ToDescriptorProto of protoc's descriptor, then
 * proto.Marshal): every field has its json_name, message and enum types are fully qualified with a
 * leading dot, options appear only where the .proto sets them, map fields get protoc's nested
 * `XxxEntry` types (map_entry = true), and proto3 `optional` fields their synthetic oneofs after the
 * real ones. (protobufjs's own toDescriptor differs in all of these, so the same type got a different
 * descriptor blob, and so a different ref, than in bs.)
 *
 * Limits: field names are taken as protobufjs holds them, so parse with `keepCase: true` when a name
 * has underscores; proto2 default values and options other than packed/deprecated are not written;
 * a message that has both map fields and nested messages lists the map entries first.
 */

/** The subset of descriptor.proto that protoc fills for a message (field numbers as in descriptor.proto). */
const schema = protobuf.parse(`
syntax = "proto2";
message DescriptorProto {
  optional string name = 1;
  repeated FieldDescriptorProto field = 2;
  repeated DescriptorProto nested_type = 3;
  repeated EnumDescriptorProto enum_type = 4;
  optional MessageOptions options = 7;
  repeated OneofDescriptorProto oneof_decl = 8;
}
message FieldDescriptorProto {
  optional string name = 1;
  optional int32 number = 3;
  optional int32 label = 4;
  optional int32 type = 5;
  optional string type_name = 6;
  optional FieldOptions options = 8;
  optional int32 oneof_index = 9;
  optional string json_name = 10;
  optional bool proto3_optional = 17;
}
message OneofDescriptorProto { optional string name = 1; }
message EnumDescriptorProto {
  optional string name = 1;
  repeated EnumValueDescriptorProto value = 2;
  optional EnumOptions options = 3;
}
message EnumValueDescriptorProto { optional string name = 1; optional int32 number = 2; }
message MessageOptions { optional bool deprecated = 3; optional bool map_entry = 7; }
message FieldOptions { optional bool packed = 2; optional bool deprecated = 3; }
message EnumOptions { optional bool allow_alias = 2; optional bool deprecated = 3; }
`, { keepCase: true }).root;
const DescriptorProto = schema.lookupType('DescriptorProto');

/** FieldDescriptorProto.Type numbers of protobufjs's scalar type names. */
const SCALAR: Record<string, number> = {
  double: 1, float: 2, int64: 3, uint64: 4, int32: 5, fixed64: 6, fixed32: 7, bool: 8, string: 9,
  bytes: 12, uint32: 13, sfixed32: 15, sfixed64: 16, sint32: 17, sint64: 18,
};
const TYPE_MESSAGE = 11, TYPE_ENUM = 14, TYPE_GROUP = 10;
const LABEL_OPTIONAL = 1, LABEL_REQUIRED = 2, LABEL_REPEATED = 3;

/** protoc's json_name: underscores dropped, the letter after each one upper-cased. */
export function jsonName(name: string): string {
  let out = '', upper = false;
  for (const c of name) {
    if (c === '_') { upper = true; continue; }
    out += upper ? c.toUpperCase() : c;
    upper = false;
  }
  return out;
}

type Plain = Record<string, unknown>;

function fieldOptions(f: protobuf.Field): Plain | undefined {
  const o: Plain = {};
  if (f.options?.packed !== undefined) o.packed = Boolean(f.options.packed);
  if (f.options?.deprecated !== undefined) o.deprecated = Boolean(f.options.deprecated);
  return Object.keys(o).length ? o : undefined;
}

function typeOf(f: protobuf.Field, typeName: string, resolved: protobuf.Type | protobuf.Enum | null): Plain {
  if (typeName in SCALAR) return { type: SCALAR[typeName] };
  if (resolved instanceof protobuf.Enum) return { type: TYPE_ENUM, type_name: resolved.fullName };
  if (resolved) return { type: (f as { delimited?: boolean }).delimited ? TYPE_GROUP : TYPE_MESSAGE, type_name: resolved.fullName };
  throw new Error(`field ${f.fullName}: unresolved type ${typeName}`);
}

function enumDescriptor(e: protobuf.Enum): Plain {
  const d: Plain = { name: e.name, value: Object.entries(e.values).map(([name, number]) => ({ name, number })) };
  const o: Plain = {};
  if (e.options?.allow_alias !== undefined) o.allow_alias = Boolean(e.options.allow_alias);
  if (e.options?.deprecated !== undefined) o.deprecated = Boolean(e.options.deprecated);
  if (Object.keys(o).length) d.options = o;
  return d;
}

/** protoc's name of a map field's entry type: the field name in CamelCase plus "Entry". */
const entryName = (field: string) => jsonName(field).replace(/^./, (c) => c.toUpperCase()) + 'Entry';

function messageDescriptor(t: protobuf.Type): Plain {
  const real = t.oneofsArray.filter((o) => !o.fieldsArray.every((f) => f.options?.proto3_optional));
  const synthetic = t.oneofsArray.filter((o) => !real.includes(o));
  const oneofs = [...real, ...synthetic];
  const fields: Plain[] = [], nested: Plain[] = [], enums: Plain[] = [];
  for (const f of t.fieldsArray) {
    f.resolve();
    const d: Plain = { name: f.name, number: f.id };
    if (f.map) {
      const m = f as unknown as protobuf.MapField;
      const entry = entryName(f.name);
      d.label = LABEL_REPEATED;
      d.type = TYPE_MESSAGE;
      d.type_name = `${t.fullName}.${entry}`;
      nested.push({
        name: entry,
        field: [
          { name: 'key', number: 1, label: LABEL_OPTIONAL, ...typeOf(f, m.keyType, null), json_name: 'key' },
          { name: 'value', number: 2, label: LABEL_OPTIONAL, ...typeOf(f, m.type, m.resolvedType), json_name: 'value' },
        ],
        options: { map_entry: true },
      });
    } else {
      d.label = f.repeated ? LABEL_REPEATED : f.required ? LABEL_REQUIRED : LABEL_OPTIONAL;
      Object.assign(d, typeOf(f, f.type, f.resolvedType));
    }
    const options = fieldOptions(f);
    if (options) d.options = options;
    if (f.partOf) d.oneof_index = oneofs.indexOf(f.partOf);
    d.json_name = jsonName(f.name);
    if (f.options?.proto3_optional) d.proto3_optional = true;
    fields.push(d);
  }
  for (const n of t.nestedArray) {
    if (n instanceof protobuf.Type) nested.push(messageDescriptor(n));
    else if (n instanceof protobuf.Enum) enums.push(enumDescriptor(n));
  }
  const d: Plain = { name: t.name, field: fields, nested_type: nested, enum_type: enums, oneof_decl: oneofs.map((o) => ({ name: o.name })) };
  if (t.options?.deprecated !== undefined) d.options = { deprecated: Boolean(t.options.deprecated) };
  return d;
}

/** The DescriptorProto bytes protoc (and so bs, for a Go message) gives the message type `type`. */
export function protocDescriptor(type: protobuf.Type): Uint8Array {
  return DescriptorProto.encode(DescriptorProto.fromObject(messageDescriptor(type))).finish();
}

/**
 * A message type from a stored DescriptorProto alone. bs stores one DescriptorProto without its file,
 * so its fully qualified type names (`.pkg.Outer.Inner`) name a package that is not there; names that
 * lead into the descriptor's own message are rewritten to resolve inside it. Types defined elsewhere
 * stay unresolved (resolveAll then fails, as it must).
 */
export function typeFromDescriptor(bytes: Uint8Array): protobuf.Type {
  const d = descriptor.DescriptorProto.decode(bytes) as unknown as DecodedDescriptor;
  const rootName = d.name ?? '';
  const resolves = (path: string[]): boolean => {
    let cur: DecodedDescriptor | undefined = d;
    for (let i = 1; i < path.length; i++) {
      const name = path[i];
      if (i === path.length - 1 && cur?.enumType?.some((e) => e.name === name)) return true;
      cur = cur?.nestedType?.find((n) => n.name === name);
      if (!cur) return false;
    }
    return true;
  };
  const rewrite = (m: DecodedDescriptor) => {
    for (const f of m.field ?? []) {
      if (!f.typeName?.startsWith('.')) continue;
      const segs = f.typeName.slice(1).split('.');
      for (let i = 0; i < segs.length; i++) {
        if (segs[i] === rootName && resolves(segs.slice(i))) { f.typeName = '.' + segs.slice(i).join('.'); break; }
      }
    }
    for (const n of m.nestedType ?? []) rewrite(n);
  };
  rewrite(d);
  // protobufjs's fromDescriptor reads a map field as a list of its entry messages; take map fields
  // (and their entry types) out and add them back as real map fields.
  const maps: { path: string[]; name: string; id: number; keyType: string; valueType: string }[] = [];
  const takeMaps = (m: DecodedDescriptor, path: string[]) => {
    const entries = new Map((m.nestedType ?? []).filter((n) => n.options?.mapEntry).map((n) => [n.name, n]));
    m.field = (m.field ?? []).filter((f) => {
      const entry = f.label === LABEL_REPEATED && f.type === TYPE_MESSAGE ? entries.get(f.typeName?.split('.').at(-1)) : undefined;
      const [k, v] = entry?.field ?? [];
      if (!entry || !k || !v) return true;
      maps.push({ path, name: f.name ?? '', id: f.number ?? 0, keyType: SCALAR_NAME[k.type ?? 0] ?? '', valueType: v.typeName || SCALAR_NAME[v.type ?? 0] || '' });
      return false;
    });
    m.nestedType = (m.nestedType ?? []).filter((n) => !n.options?.mapEntry);
    for (const n of m.nestedType) takeMaps(n, [...path, n.name ?? '']);
  };
  takeMaps(d, []);
  const type = (protobuf.Type as unknown as { fromDescriptor(d: unknown): protobuf.Type }).fromDescriptor(d);
  for (const m of maps) {
    const owner = m.path.reduce<protobuf.Type>((t, n) => t.get(n) as protobuf.Type, type);
    owner.add(new protobuf.MapField(m.name, m.id, m.keyType, m.valueType));
  }
  return type;
}

const SCALAR_NAME: Record<number, string> = Object.fromEntries(Object.entries(SCALAR).map(([name, n]) => [n, name]));

interface DecodedDescriptor {
  name?: string;
  field?: { name?: string; number?: number; label?: number; type?: number; typeName?: string }[];
  nestedType?: DecodedDescriptor[];
  enumType?: { name?: string }[];
  options?: { mapEntry?: boolean };
}
