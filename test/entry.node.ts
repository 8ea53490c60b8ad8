// Node entry for mocha: installs Dawn (the `webgpu` package) as the engine factory, then loads every suite.
import { create } from 'webgpu';
import { Engine } from '../engine/index.js';
import { closeEngine, setEngineFactory } from './helpers/gpu.js';
import './suites.js';
import './node-only.js';

// Dawn's instance is created inside the factory and not kept, so Node can exit after the run.
setEngineFactory((options) => Engine.create({ ...options, gpu: create([]) }));

after(async function () {
  await closeEngine();
});
