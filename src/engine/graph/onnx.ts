/**
 * Serialises the graph IR to an ONNX `ModelProto` (onnx-buf: ONNX 1.20 definitions on
 * @bufbuild/protobuf).
 *
 * Weights can be written as external data (ONNX "External Data" spec): one side file, each
 * tensor at a 4096-byte aligned offset, referenced by `location`/`offset`/`length`; the model
 * must then be loaded by path so ONNX Runtime finds the side file. Models whose protobuf would
 * pass 2 GiB must use it (protobuf's message limit).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { openSync, writeSync, closeSync, renameSync, fsyncSync, rmSync } from 'node:fs';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  type NodeProto,
  type TensorProto,
  TensorProtoSchema,
  TensorProto_DataLocation,
  type GraphProto,
  type AttributeProto,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { type HostTensor, DTYPE_SIZE, ONNX_DTYPE } from '../tensor';
import { type AttrValue, Float, Floats, Graph, type Value } from './ir';

/** The default opset: ORT 1.30 loads 17–26; 21 has every op form we emit (Reduce axes inputs). */
export const OPSET = 21;
/** IR version matching opset 21 (ONNX 1.16). */
export const IR_VERSION = 10n;

export interface ExternalDataOptions {
  /** Absolute path of the side file to write. */
  path: string;
  /** File name stored in the model (relative to the model file). */
  location: string;
  /** Tensors smaller than this stay inline (bytes). Default 1024. */
  minBytes?: number;
}

export interface SerializeOptions {
  opset?: number;
  externalData?: ExternalDataOptions;
}

/** Little-endian bytes of a tensor's data (a view, no copy on little-endian hosts). */
export function tensorBytes(t: HostTensor): Uint8Array<ArrayBuffer> {
  return new Uint8Array(t.data.buffer as ArrayBuffer, t.data.byteOffset, t.data.byteLength);
}

/**
 * Encodes `graph` as ONNX model bytes.
 *
 * @throws when an attribute value has an unsupported type.
 */
export function serializeModel(graph: Graph, opts: SerializeOptions = {}): Uint8Array {
  const ext = opts.externalData ? new ExternalWriter(opts.externalData) : null;
  try {
    const model = create(ModelProtoSchema, {
      irVersion: IR_VERSION,
      producerName: 'loralab',
      opsetImport: [{ domain: '', version: BigInt(opts.opset ?? OPSET) }],
      graph: graphProto(graph, ext),
    });
    const bytes = toBinary(ModelProtoSchema, model);
    ext?.commit();
    return bytes;
  } catch (e) {
    ext?.abort();
    throw e;
  }
}

function graphProto(g: Graph, ext: ExternalWriter | null): GraphProto {
  const initializer: TensorProto[] = [];
  for (const [name, { tensor }] of g.initializers) initializer.push(tensorProto(name, tensor, ext));
  return create(GraphProtoSchema, {
    name: g.name,
    node: g.nodes.map((n) => nodeProto(n.opType, n.domain, n.name, n.inputs, n.outputs, n.attrs, ext)),
    initializer,
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
  });
}

function nodeProto(opType: string, domain: string, name: string, inputs: (Value | null)[], outputs: Value[], attrs: Record<string, AttrValue>, ext: ExternalWriter | null): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    domain,
    name,
    input: inputs.map((v) => (v ? v.name : '')),
    output: outputs.map((v) => v.name),
    attribute: Object.entries(attrs).map(([k, v]) => attrProto(k, v, ext)),
  });
}

function attrProto(name: string, v: AttrValue, ext: ExternalWriter | null): AttributeProto {
  const a = create(AttributeProtoSchema, { name });
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer; wrap floats in Float()`);
    a.type = AT.INT;
    a.i = BigInt(v);
  } else if (v instanceof Float) {
    a.type = AT.FLOAT;
    a.f = v.value;
  } else if (v instanceof Floats) {
    a.type = AT.FLOATS;
    a.floats = v.value;
  } else if (typeof v === 'string') {
    a.type = AT.STRING;
    a.s = new TextEncoder().encode(v);
  } else if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'number')) {
      a.type = AT.INTS;
      a.ints = (v as number[]).map((x) => BigInt(x));
    } else {
      a.type = AT.STRINGS;
      a.strings = (v as string[]).map((x) => new TextEncoder().encode(x));
    }
  } else if (v instanceof Graph) {
    a.type = AT.GRAPH;
    a.g = graphProto(v, ext);
  } else {
    a.type = AT.TENSOR;
    a.t = tensorProto('', v, null);
  }
  return a;
}

function tensorProto(name: string, t: HostTensor, ext: ExternalWriter | null): TensorProto {
  const tp = create(TensorProtoSchema, {
    name,
    dims: t.shape.map((d) => BigInt(d)),
    dataType: ONNX_DTYPE[t.dtype],
  });
  const bytes = tensorBytes(t);
  if (ext && bytes.byteLength >= ext.minBytes) {
    const offset = ext.append(bytes);
    tp.dataLocation = TensorProto_DataLocation.EXTERNAL;
    tp.externalData = [
      { key: 'location', value: ext.location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.byteLength) },
    ] as TensorProto['externalData'];
  } else {
    tp.rawData = bytes;
  }
  return tp;
}

function valueInfo(v: Value): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name: v.name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType: ONNX_DTYPE[v.dtype],
          shape: v.shape
            ? { dim: v.shape.map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d } })) }
            : undefined,
        },
      },
    },
  });
}

/** Appends tensors to a side file at 4 KiB-aligned offsets; renamed into place on commit. */
class ExternalWriter {
  static readonly ALIGN = 4096;
  readonly minBytes: number;
  readonly location: string;
  private readonly tmp: string;
  private fd: number;
  private pos = 0;

  constructor(private readonly opts: ExternalDataOptions) {
    this.minBytes = opts.minBytes ?? 1024;
    this.location = opts.location;
    this.tmp = `${opts.path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, 'w');
  }

  append(bytes: Uint8Array): number {
    const offset = Math.ceil(this.pos / ExternalWriter.ALIGN) * ExternalWriter.ALIGN;
    if (offset > this.pos) writeSync(this.fd, new Uint8Array(offset - this.pos), 0, offset - this.pos, this.pos);
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(this.fd, bytes, done, bytes.byteLength - done, offset + done);
    this.pos = offset + bytes.byteLength;
    return offset;
  }

  commit(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmp, this.opts.path);
  }

  abort(): void {
    try { closeSync(this.fd); } catch { /* already closed */ }
    rmSync(this.tmp, { force: true });
  }
}

export { DTYPE_SIZE };
