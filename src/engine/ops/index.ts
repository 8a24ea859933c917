/** All op builders, named as ONNX op types. Importing this registers every gradient rule. */
export * from './core';
export * from './elementwise';
export * from './matmul';
export * from './reduce';
export * from './shape';
export * from './gather';
export * from './dropout';
export * from './control';
