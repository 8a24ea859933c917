/**
 * A parsed JSONC text with what is needed to point at a key: the jsonc-parser syntax tree and
 * offset → line mapping.
 */
// The ESM build: esbuild (platform node) would take the package's UMD `main`, whose internal
// require() calls it cannot follow, and the bundle would fail at load ("Cannot find module
// './impl/format'"). tsx runs this file directly from source either way.
import { createScanner, getLocation, getNodeValue, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser/lib/esm/main.js';

/** Segments of a JSON pointer (`/training/learning_rate` → `["training", "learning_rate"]`). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A JSON pointer from segments; the root is `/`. */
export function toPointer(segments: readonly (string | number)[]): string {
  if (segments.length === 0) return '/';
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** A syntax error: 1-based line, the pointer of the value it is in, and a message. */
export interface SyntaxProblem {
  line: number;
  pointer: string;
  message: string;
}

/** jsonc-parser's `SyntaxKind.EOF` (a const enum, which isolatedModules cannot read). */
const SyntaxKind_EOF = 17;

const SYNTAX_MESSAGES: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a key in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":" after the key',
  CommaExpected: 'expected "," after this value',
  CloseBraceExpected: 'expected "}" (an object is not closed)',
  CloseBracketExpected: 'expected "]" (an array is not closed)',
  EndOfFileExpected: 'unexpected text after the end of the document',
  InvalidCommentToken: 'invalid comment',
  UnexpectedEndOfComment: 'comment is not closed ("*/" missing)',
  UnexpectedEndOfString: 'string is not closed (closing double quote missing)',
  UnexpectedEndOfNumber: 'number is incomplete',
  InvalidUnicode: 'invalid \\u escape in string',
  InvalidEscapeCharacter: 'invalid escape character in string',
  InvalidCharacter: 'invalid character in string (write a line break as \\n, a tab as \\t)',
};

export class JsonDocument {
  /** The syntax tree; undefined when the text has no value at all. */
  readonly root: Node | undefined;
  /** The value, comments stripped (last value wins for a duplicate key). */
  readonly value: unknown;
  readonly syntaxErrors: ParseError[] = [];
  private readonly lineStarts: number[] = [0];

  constructor(readonly text: string) {
    this.root = parseTree(text, this.syntaxErrors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false });
    this.value = this.root ? getNodeValue(this.root) : undefined;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) this.lineStarts.push(i + 1);
    }
  }

  /** 1-based line of a UTF-16 offset into the text. */
  lineAt(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }

  /**
   * The node at a path, or the deepest existing node on the way there, and whether it was
   * reached. For a value inside an object the node is the value (its parent is the property).
   */
  nodeAt(segments: readonly string[]): { node: Node | undefined; found: boolean } {
    let node = this.root;
    for (const seg of segments) {
      let next: Node | undefined;
      if (node?.type === 'object') {
        // The last property with that key is the one whose value counts.
        const props = (node.children ?? []).filter((p) => p.children?.[0]?.value === seg);
        next = props.at(-1)?.children?.[1];
      } else if (node?.type === 'array' && /^\d+$/.test(seg)) {
        next = node.children?.[Number(seg)];
      }
      if (!next) return { node, found: false };
      node = next;
    }
    return { node, found: true };
  }

  /** The line where a node is written: its key's line for a property value, else its own. */
  lineOfNode(node: Node | undefined): number {
    if (!node) return 1;
    const at = node.parent?.type === 'property' ? node.parent : node;
    return this.lineAt(at.offset);
  }

  /** Line of the value at a pointer (of its key for a property), or of the closest existing parent. */
  lineOfPointer(pointer: string): number {
    return this.lineOfNode(this.nodeAt(pointerSegments(pointer)).node);
  }

  /** Line of key `key` in the object at `pointer` (the last one, if repeated). */
  lineOfKey(pointer: string, key: string): number {
    const { node, found } = this.nodeAt(pointerSegments(pointer));
    if (found && node?.type === 'object') {
      const prop = (node.children ?? []).filter((p) => p.children?.[0]?.value === key).at(-1);
      if (prop) return this.lineAt(prop.offset);
    }
    return this.lineOfNode(node);
  }

  /** Keys that appear more than once in one object, with the line of each repeat. */
  duplicateKeys(): SyntaxProblem[] {
    const out: SyntaxProblem[] = [];
    const walk = (node: Node, path: (string | number)[]) => {
      if (node.type === 'object') {
        const seen = new Set<string>();
        for (const prop of node.children ?? []) {
          const key = prop.children?.[0]?.value as string;
          if (seen.has(key)) out.push({ line: this.lineAt(prop.offset), pointer: toPointer(path), message: `duplicate key ${JSON.stringify(key)}` });
          seen.add(key);
          if (prop.children?.[1]) walk(prop.children[1], [...path, key]);
        }
      } else if (node.type === 'array') {
        (node.children ?? []).forEach((child, i) => walk(child, [...path, i]));
      }
    };
    if (this.root) walk(this.root, []);
    return out;
  }

  /** The syntax errors as problems with lines, pointers and plain-words messages. */
  syntaxProblems(): SyntaxProblem[] {
    const out: SyntaxProblem[] = [];
    for (const e of this.syntaxErrors) {
      const p = this.syntaxProblem(e);
      // Further errors on the same line are the parser stumbling over the first one.
      if (!out.some((q) => q.line === p.line)) out.push(p);
      // After an unclosed string or comment the rest of the text is misread: stop there.
      const code = printParseErrorCode(e.error);
      if (code === 'UnexpectedEndOfString' || code === 'UnexpectedEndOfComment') break;
    }
    return out;
  }

  private syntaxProblem(e: ParseError): SyntaxProblem {
    const code = printParseErrorCode(e.error);
    const atEnd = e.offset >= this.text.length;
    if (atEnd && (code === 'CloseBraceExpected' || code === 'CloseBracketExpected')) {
      const open = this.innermostUnclosed();
      if (open) {
        const [kind, close] = open.node.type === 'array' ? ['array', ']'] : ['object', '}'];
        const message = `the ${kind} opened on line ${this.lineAt(open.node.offset)} is not closed (expected "${close}")`;
        return { line: this.lineAt(e.offset), pointer: toPointer(open.path), message };
      }
    }
    if (!this.root && code === 'ValueExpected' && this.text.slice(e.offset).trim() === '') {
      return { line: this.lineAt(e.offset), pointer: '/', message: 'the file is empty (expected an object)' };
    }
    // A missing "," or ":" is noticed at the next token; point at the token before it.
    const offset = code === 'CommaExpected' || code === 'ColonExpected' ? this.previousTokenEnd(e.offset) : e.offset;
    return { line: this.lineAt(offset), pointer: toPointer(getLocation(this.text, offset).path), message: SYNTAX_MESSAGES[code] ?? code };
  }

  /** The deepest object or array at the end of the text that lacks its closing bracket. */
  private innermostUnclosed(): { node: Node; path: (string | number)[] } | undefined {
    // Closed: ends with its own bracket, after the end of its last child (which may share the end).
    const unclosed = (n: Node | undefined): n is Node => {
      if (n?.type !== 'object' && n?.type !== 'array') return false;
      const end = n.offset + n.length;
      const last = n.children?.at(-1);
      return this.text[end - 1] !== (n.type === 'object' ? '}' : ']') || (last !== undefined && last.offset + last.length >= end);
    };
    if (!this.root || !unclosed(this.root)) return undefined;
    let found = { node: this.root, path: [] as (string | number)[] };
    for (;;) {
      const last = found.node.children?.at(-1);
      const child = found.node.type === 'object' ? last?.children?.[1] : last;
      if (!child || !unclosed(child)) return found;
      const seg = found.node.type === 'object' ? (last!.children![0].value as string) : found.node.children!.length - 1;
      found = { node: child, path: [...found.path, seg] };
    }
  }

  /** Offset of the last token (not whitespace or comment) that starts before `offset`. */
  private previousTokenEnd(offset: number): number {
    const scanner = createScanner(this.text, true);
    let last = offset;
    for (let kind = scanner.scan(); kind !== SyntaxKind_EOF; kind = scanner.scan()) {
      if (scanner.getTokenOffset() >= offset) break;
      last = scanner.getTokenOffset() + Math.max(scanner.getTokenLength() - 1, 0);
    }
    return last;
  }
}
