// esbuild's text loader turns each .wgsl import into its source string.
declare module '*.wgsl' {
  const source: string;
  export default source;
}
