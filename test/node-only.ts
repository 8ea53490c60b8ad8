// Suites that need Node APIs (files, processes, the webgpu package).
import './harness.node.test.js';
import './checkpoint.node.test.js';
import './safetensors.node.test.js';
import './trainer.node.test.js';
import './plot.node.test.js';
import './corpora.node.test.js';
import './method-cge.node.test.js';
import './method-global-batch-lbl.node.test.js';
import './method-jola.node.test.js';
import './method-untrac.node.test.js';
import './method-reward-calibration.node.test.js';
import './method-two-tier-selection.node.test.js';
import './method-step.node.test.js';
import './bench.node.test.js';
import './readme.node.test.js';
import './cli.node.test.js';
import './layering.node.test.js';
