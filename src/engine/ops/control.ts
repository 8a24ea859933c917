/**
 * Control flow (ONNX `If`, `Loop`): their branches and bodies are subgraphs (`Graph` with a
 * parent) that read the outer graph's values by name. No gradient rules: a value computed
 * through them gets its gradient from `defineValueGrad` (core.ts) or not at all.
 */
import { Graph, type Value, type ValueType } from '../graph/ir';
import { graphOf } from './core';
import { Identity } from './elementwise';

/**
 * If (ONNX opset 16+): `cond` is a bool scalar; both branches are subgraphs of cond's graph with
 * no inputs and the same number of outputs, of matching dtypes (shapes may differ: outTypes
 * gives what the outputs are declared as; use shape null where the branches disagree).
 */
export function If(cond: Value, thenBranch: Graph, elseBranch: Graph, outTypes: ValueType[]): Value[] {
  if (thenBranch.outputs.length !== elseBranch.outputs.length || thenBranch.outputs.length !== outTypes.length) {
    throw new Error(`If: branches have ${thenBranch.outputs.length} and ${elseBranch.outputs.length} outputs, ${outTypes.length} declared`);
  }
  // The If lives where its branches do (cond may come from further out, e.g. a graph input read in a Loop body).
  return (thenBranch.parent ?? graphOf(cond)).addNode('If', [cond], { then_branch: thenBranch, else_branch: elseBranch }, outTypes);
}

/**
 * A branch for `If`: builds nodes with `build` in `g`, then moves them into a new subgraph of `g`
 * (named `name`) whose outputs are the returned values; a returned value computed outside the
 * branch passes through an Identity. Initializers stay in `g` (outer scope).
 */
export function branchGraph(g: Graph, name: string, build: () => Value[]): Graph {
  const start = g.nodes.length;
  const outputs = build();
  const sub = new Graph(name, g);
  sub.nodes.push(...g.nodes.splice(start));
  // A branch output must be computed in the branch; pass an outer value through Identity.
  sub.outputs.push(...outputs.map((v) => {
    if (sub.nodes.some((n) => n.outputs.includes(v))) return v;
    const out = Identity(v);
    sub.nodes.push(out.graph.nodes.pop()!);
    return out;
  }));
  return sub;
}

/**
 * Loop (ONNX opset 16+) with a trip count `M` (int64 scalar): `body`
 * has inputs (iteration_num int64 [], cond bool []) and outputs (cond bool [], scan outputs…);
 * each scan output is stacked over iterations into a new leading axis (outTypes: the stacked
 * types). With `carried` (loop-carried dependencies, initial values), the body takes them after
 * cond and returns their next values after cond, before the scan outputs; the Loop's first
 * outputs are their final values (outTypes: those types first). The body's parent must be M's graph.
 */
export function Loop(M: Value, body: Graph, outTypes: ValueType[], carried: Value[] = []): Value[] {
  return graphOf(M, ...carried).addNode('Loop', [M, null, ...carried], { body }, outTypes);
}
