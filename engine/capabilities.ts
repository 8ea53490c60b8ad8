// What the device can do, gathered once. Kernels pick variants from this.

export interface Capabilities {
  /** 'dawn' (Node's webgpu package, Chromium) or 'wgpu' (Deno, Firefox), guessed from the API surface. */
  runtime: 'dawn' | 'wgpu' | 'unknown';
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU implementation (lavapipe, SwiftShader): slow dispatches, small test shapes. */
  isSoftware: boolean;
  features: ReadonlySet<string>;
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
  subgroupMinSize: number;
  subgroupMaxSize: number;
  limits: {
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxStorageBuffersPerShaderStage: number;
    minUniformBufferOffsetAlignment: number;
  };
}

/** Optional features kiln uses when the adapter offers them. */
export const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

/** Limits kiln raises to the adapter's maximum at requestDevice. */
export const RAISED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
] as const;

export function readCapabilities(adapterInfo: GPUAdapterInfo | undefined, device: GPUDevice): Capabilities {
  const info = adapterInfo ?? (device as unknown as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${description}`.toLowerCase();
  const features = new Set<string>(device.features as unknown as Iterable<string>);
  const l = device.limits;
  const sub = info as unknown as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  const isWgpu = typeof (globalThis as { Deno?: unknown }).Deno !== 'undefined';
  return {
    runtime: isWgpu ? 'wgpu' : vendor || architecture || description ? 'dawn' : 'unknown',
    vendor,
    architecture,
    description,
    isSoftware:
      architecture === 'software' || /llvmpipe|lavapipe|swiftshader|software/.test(text) || (vendor === 'mesa' && architecture === ''),
    features,
    shaderF16: features.has('shader-f16'),
    subgroups: features.has('subgroups'),
    timestampQuery: features.has('timestamp-query'),
    subgroupMinSize: sub?.subgroupMinSize ?? 0,
    subgroupMaxSize: sub?.subgroupMaxSize ?? 0,
    limits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxBufferSize: l.maxBufferSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
    },
  };
}
