// Suites that need Node APIs (files, processes, the webgpu package).
import './harness.node.test.js';
import './corpora.node.test.js';
