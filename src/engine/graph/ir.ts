/**
 * A small IR for ONNX graphs: values with a dtype and a (symbolic) shape, nodes, initializers.
 *
 * Nodes are appended in creation order, and a node can only consume values that exist when
 * it is built, so `graph.nodes` is always a topological order. Op builders live in `../ops/`
 * (one per ONNX op type) and call `Graph.addNode` with the output types they infer.
 *
 * Shapes: a dim is a number (static) or a string (symbolic: "B", "T", or a generated "?n"
 * for a dim nothing is known about). `null` means even the rank is unknown.
 */
import { type DType, type HostTensor, numel } from '../tensor';

export type Dim = number | string;
export type Shape = Dim[] | null;

/** A float attribute; a plain JS number attribute is serialised as an ONNX INT. */
export class Float {
  constructor(readonly value: number) {}
}
/** A list-of-floats attribute (a plain number[] is INTS). */
export class Floats {
  constructor(readonly value: number[]) {}
}

export type AttrValue = number | number[] | Float | Floats | string | string[] | HostTensor | Graph;

/** A value (edge) of a graph: a graph input, an initializer, or a node output. */
export class Value {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** The node that computes it; null for graph inputs and initializers. */
    public producer: Node | null,
  ) {}

  get rank(): number {
    if (this.shape === null) throw new Error(`value ${this.name}: rank unknown`);
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape?.join(', ') ?? '?'}]`;
  }
}

export class Node {
  constructor(
    readonly opType: string,
    readonly inputs: (Value | null)[],
    readonly outputs: Value[],
    readonly attrs: Record<string, AttrValue>,
    readonly name: string,
    readonly domain: string = '',
  ) {}
}

export interface ValueType {
  dtype: DType;
  shape: Shape;
}

/**
 * An ONNX graph under construction.
 *
 * Errors: building a node from a value of another graph that is not an outer scope of this
 * one throws (it would produce an invalid model).
 */
export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, { value: Value; tensor: HostTensor }>();
  private readonly names = new Set<string>();
  private counter = 0;
  private unknownDims = 0;

  /** `parent` is set for subgraphs (If branches); they may read the parent's values. */
  constructor(readonly name = 'main', readonly parent: Graph | null = null) {}

  /** A name not used in this graph (or its parents), based on `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.isTaken(name)) name = `${hint}_${++this.counter}`;
    this.claim(name);
    return name;
  }

  /** Reserves `name` here and in every outer graph, so sibling subgraphs never reuse it (SSA). */
  private claim(name: string): void {
    this.names.add(name);
    for (let p = this.parent; p; p = p.parent) p.names.add(name);
  }

  private isTaken(name: string): boolean {
    return this.names.has(name) || (this.parent?.isTaken(name) ?? false);
  }

  /** A fresh symbolic dim for something shape inference cannot tell. */
  unknownDim(): string {
    return this.parent ? this.parent.unknownDim() : `?${++this.unknownDims}`;
  }

  /** Declares a graph input. `name` is used exactly (callers feed it by name). */
  input(name: string, dtype: DType, shape: Dim[]): Value {
    if (this.isTaken(name)) throw new Error(`graph input name "${name}" already used`);
    this.claim(name);
    const v = new Value(this, name, dtype, shape, null);
    this.inputs.push(v);
    return v;
  }

  /** Adds a constant tensor (an initializer). `name` is kept if free, else made unique. */
  initializer(name: string, t: HostTensor): Value {
    if (t.data.length !== numel(t.shape)) {
      throw new Error(`initializer ${name}: shape [${t.shape}] does not match ${t.data.length} elements`);
    }
    const v = new Value(this, this.fresh(name), t.dtype, [...t.shape], null);
    this.initializers.set(v.name, { value: v, tensor: t });
    return v;
  }

  /** Bytes of this graph's initializer tensors (the model's weights as the graph holds them). */
  initializerBytes(): number {
    let n = 0;
    for (const { tensor } of this.initializers.values()) n += tensor.data.byteLength;
    return n;
  }

  /**
   * Forgets the initializers of this graph and of every subgraph (Loop bodies, If branches) below
   * it, so their tensors can be garbage-collected once the model is serialized (ONNX Runtime
   * holds its own copy). The graph cannot be serialized again afterwards.
   */
  dropInitializers(): void {
    this.initializers.clear();
    for (const n of this.nodes) for (const a of Object.values(n.attrs)) if (a instanceof Graph) a.dropInitializers();
  }

  /** Marks a value as a graph output, renaming through Identity when `name` differs. */
  output(v: Value, name?: string): Value {
    let out = v;
    if (name !== undefined && name !== v.name) {
      if (this.isTaken(name)) throw new Error(`graph output name "${name}" already used`);
      this.names.add(name);
      out = new Value(this, name, v.dtype, v.shape, null);
      const node = new Node('Identity', [v], [out], {}, this.fresh('Identity'));
      out.producer = node;
      this.nodes.push(node);
    }
    this.outputs.push(out);
    return out;
  }

  /** Whether `v` may be used by a node of this graph (it belongs here or to an outer scope). */
  owns(v: Value): boolean {
    return v.graph === this || (this.parent?.owns(v) ?? false);
  }

  /**
   * Appends a node. Builders in `ops/` call this with the output types they inferred.
   * Returns the output values.
   */
  addNode(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrValue>, outTypes: ValueType[], domain = ''): Value[] {
    for (const v of inputs) {
      if (v && !this.owns(v)) throw new Error(`${opType}: input ${v.name} belongs to another graph`);
    }
    const outputs = outTypes.map((t, i) => new Value(this, this.fresh(`${opType.toLowerCase()}_${i}`), t.dtype, t.shape, null));
    const node = new Node(opType, inputs, outputs, attrs, this.fresh(opType), domain);
    for (const o of outputs) o.producer = node;
    this.nodes.push(node);
    return outputs;
  }
}
