// TF.js's own gradient functions, which tf.variableGrads needs for the training step. The union
// package @tensorflow/tfjs registers them by importing tfjs-core/dist/register_all_gradients;
// tfjs-core's Node entry (all that is installed here) does not, so without this tf.variableGrads fails
// with "gradient function not found for RealDiv". That ESM file uses extensionless relative imports,
// which Node cannot load, so it is imported by a relative path, which makes esbuild bundle it (bare
// package imports stay external). The bundled copy of tfjs-core's ops registers into the registry
// and engine the Node entry uses: TF.js keeps both on a global namespace (getGlobal, _tfengine)
// and recognises tensors across copies by shape (Tensor[Symbol.hasInstance]), so that several copies
// of tfjs-core can coexist. Import this dynamically, after '@tensorflow/tfjs-core', so the Node
// entry's copy creates the engine.
import '../../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js';
