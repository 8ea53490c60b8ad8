// Node entry for mocha: installs Dawn (the `webgpu` package) as the engine factory, then loads every suite.
import { Engine } from '../engine/index.js';
import { dawnGPU } from '../nn/node/gpu.js';
import { closeEngine, setEngineFactory } from './helpers/gpu.js';
import './suites.js';
import './node-only.js';

// Every engine (the shared one and the tests' second engines) opens its device on the process's one
// Dawn instance: see nn/node/gpu.ts for why instances are never dropped.
setEngineFactory((options) => Engine.create({ ...options, gpu: dawnGPU() }));

after(async function () {
  await closeEngine();
});
