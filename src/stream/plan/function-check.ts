import { parse, type Node } from 'acorn';
import { isOpRef } from '../../pool/index.js';
import { OperatorFunctionError, type FnRef } from './functions.js';

/**
 * Turns an operator's function into a FnRef, checking at plan time that a function shipped by its
 * source text is self-contained: every name it reads must be its own (parameters, locals) or a
 * global the worker also has. A captured variable would be undefined in the worker, so it is an
 * error here, naming it.
 */
export function toFnRef(fn: unknown, operator: string): FnRef {
  if (isOpRef(fn)) return { kind: 'module', module: fn.module, export: fn.export, operator };
  if (typeof fn !== 'function') {
    throw new OperatorFunctionError(operator, `expected a function or op(moduleUrl, exportName), got ${typeof fn}`);
  }
  const source = expressionSource(fn, operator);
  const missing = freeVariables(source).filter((name) => !(name in globalThis));
  if (missing.length > 0) {
    throw new OperatorFunctionError(
      operator,
      `the function uses ${missing.map((n) => `'${n}'`).join(', ')}, which it does not define. Functions run in worker ` +
        `threads from their source text, so they cannot capture outer variables: define ${missing.length > 1 ? 'them' : 'it'} ` +
        `inside the function, or export the function from a module and pass op(import.meta.url, 'name')`,
      missing[0],
    );
  }
  return { kind: 'source', source, operator };
}

/** The function's source as an expression that evaluates to the function. */
function expressionSource(fn: Function, operator: string): string {
  const text = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(text)) {
    throw new OperatorFunctionError(operator, 'a native or bound function has no source to ship; wrap it in an arrow function');
  }
  if (parsesAsExpression(text)) return text;
  // Method shorthand (`{ f(x) { … } }.f`) prints as `f(x) { … }`: rebuild it as a function expression.
  const method = `({ ${text} })`;
  if (parsesAsExpression(method)) return `Object.values(${method})[0]`;
  throw new OperatorFunctionError(operator, 'its source text does not parse as a function');
}

function parsesAsExpression(text: string): boolean {
  try {
    parse(`(${text})`, { ecmaVersion: 'latest' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Names the function reads but never declares. Declarations anywhere in the function count for
 * the whole function: a little generous with block scoping, which only means a rare miss, never
 * a false alarm.
 */
export function freeVariables(source: string): string[] {
  const ast = parse(`(${source})`, { ecmaVersion: 'latest' }) as Node;
  const declared = new Set<string>(['arguments']);
  const used = new Set<string>();
  walk(ast as AnyNode, null, null, declared, used);
  return [...used].filter((name) => !declared.has(name));
}

type AnyNode = Node & Record<string, unknown>;

function walk(node: AnyNode, parent: AnyNode | null, key: string | null, declared: Set<string>, used: Set<string>): void {
  switch (node.type) {
    case 'Identifier':
      if (isReference(node, parent, key)) used.add(node.name as string);
      return;
    case 'VariableDeclarator':
      declarePattern(node.id as AnyNode, declared);
      break;
    case 'FunctionDeclaration':
    case 'FunctionExpression':
    case 'ArrowFunctionExpression':
      if (node.id) declared.add((node.id as AnyNode).name as string);
      for (const param of node.params as AnyNode[]) declarePattern(param, declared);
      break;
    case 'ClassDeclaration':
    case 'ClassExpression':
      if (node.id) declared.add((node.id as AnyNode).name as string);
      break;
    case 'CatchClause':
      if (node.param) declarePattern(node.param as AnyNode, declared);
      break;
    case 'LabeledStatement':
    case 'BreakStatement':
    case 'ContinueStatement':
      if (node.body) walk(node.body as AnyNode, node, 'body', declared, used);
      return;
  }
  for (const [childKey, child] of Object.entries(node)) {
    if (childKey === 'type' || childKey === 'start' || childKey === 'end') continue;
    if (Array.isArray(child)) {
      for (const item of child) if (isNode(item)) walk(item, node, childKey, declared, used);
    } else if (isNode(child)) {
      walk(child, node, childKey, declared, used);
    }
  }
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === 'object' && value !== null && typeof (value as Node).type === 'string';
}

/** An identifier that reads a binding (not a property name, a key, or a label). */
function isReference(_node: AnyNode, parent: AnyNode | null, key: string | null): boolean {
  if (!parent) return true;
  switch (parent.type) {
    case 'MemberExpression':
      return key !== 'property' || parent.computed === true;
    case 'Property':
    case 'PropertyDefinition':
    case 'MethodDefinition':
      return key !== 'key' || parent.computed === true;
    case 'MetaProperty':
      return false;
    default:
      return true;
  }
}

function declarePattern(pattern: AnyNode, declared: Set<string>): void {
  switch (pattern.type) {
    case 'Identifier':
      declared.add(pattern.name as string);
      return;
    case 'ObjectPattern':
      for (const prop of pattern.properties as AnyNode[]) {
        declarePattern((prop.type === 'RestElement' ? prop.argument : prop.value) as AnyNode, declared);
      }
      return;
    case 'ArrayPattern':
      for (const element of pattern.elements as (AnyNode | null)[]) if (element) declarePattern(element, declared);
      return;
    case 'RestElement':
      declarePattern(pattern.argument as AnyNode, declared);
      return;
    case 'AssignmentPattern':
      declarePattern(pattern.left as AnyNode, declared);
      return;
  }
}

