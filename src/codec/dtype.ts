import { InvalidArgumentError } from '../errors.js';
import { DType } from './generated/ringflow/wire.js';

/** Element type of a vector, as users name it (`new SageFlowService({ dtype: 'Float32' })`). */
export type VectorDType = 'Float32' | 'Float64';

export type VectorArray = Float32Array | Float64Array;

/** The wire enum value for a dtype name; throws on anything else (the name often comes from user options). */
export function wireDType(dtype: VectorDType): DType {
  if (dtype === 'Float32') return DType.Float32;
  if (dtype === 'Float64') return DType.Float64;
  throw new InvalidArgumentError(`dtype must be 'Float32' or 'Float64', got ${String(dtype)}`);
}

/** The dtype name for a wire enum value, or undefined for a value this version does not know. */
export function dtypeName(wire: number): VectorDType | undefined {
  if (wire === DType.Float32) return 'Float32';
  if (wire === DType.Float64) return 'Float64';
  return undefined;
}

export function bytesPerElement(dtype: DType): 4 | 8 {
  return dtype === DType.Float64 ? 8 : 4;
}
