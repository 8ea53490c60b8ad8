// Spec values of WebGPU flags, so the engine does not depend on the GPUBufferUsage / GPUMapMode
// globals, which Node's webgpu package only installs on request.
export const BufferUsage = { MAP_READ: 0x1, MAP_WRITE: 0x2, COPY_SRC: 0x4, COPY_DST: 0x8, UNIFORM: 0x40, STORAGE: 0x80, QUERY_RESOLVE: 0x200 } as const;
export const MapMode = { READ: 0x1, WRITE: 0x2 } as const;
