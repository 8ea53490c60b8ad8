// Every suite that runs on both runtimes (Node with Dawn, Deno with wgpu).
import './shape.test.js';
import './ops.test.js';
import './autograd.test.js';
import './matmul.test.js';
import './memory.test.js';
import './errors.test.js';
import './random.test.js';
import './engine.test.js';
import './sort.test.js';
import './optim.test.js';
import './lora.test.js';
import './safetensors.test.js';
import './nn-layers.test.js';
import './nn-transformer.test.js';
import './generate.test.js';
import './tokenizer.test.js';
import './data.test.js';
