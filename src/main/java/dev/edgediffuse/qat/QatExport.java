package dev.edgediffuse.qat;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.checkpoint.Component;
import dev.edgediffuse.checkpoint.ModelTensor;
import dev.edgediffuse.compress.ActivationRanges;
import dev.edgediffuse.compress.Quantizer;
import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Json;
import dev.edgediffuse.tensor.DType;
import dev.edgediffuse.tensor.Weight;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A trained QAT state in the runtime's formats: each quantized layer's weight stored with its trained scales (the
 * codes the fake quantizer used, so the runtime's dequantized weight equals the fake-quantized one), every other
 * UNet tensor in f16 or f32, and with 8-bit inputs {@code unet/activation_ranges.json}, which
 * {@code --activations int8} reads. Nothing of the fake quantization remains: the model runs on the plain kernels.
 */
public final class QatExport {
    private QatExport() {}

    /** {@code model} with the state's UNet (other components as they are). */
    public static Checkpoint checkpoint(Checkpoint model, QuantizationAwareTraining.State state, String dtype) {
        DType kept = dtype.equals("f32") ? DType.F32 : DType.F16;
        Map<String, ModelTensor> tensors = new LinkedHashMap<>();
        for (String name : state.weights().names()) {
            int[] shape = state.weights().shapes().get(name);
            float[] v = state.weights().get(name);
            WeightQuantizer q = name.endsWith(".weight") ? state.weightQuantizers().get(name.substring(0, name.length() - ".weight".length())) : null;
            Weight w = q == null ? Weight.of(name, kept, v, shape)
                    : new Weight(name, q.type(), shape, MemorySegment.ofArray(Quantizer.quantize(v, shape, q.type(), q.usedScales())));
            tensors.put(name, ModelTensor.of(w));
        }
        Component unet = model.unet.withTensors(tensors, "quantization-aware trained " + model.unet.source());
        return model.withUnet(unet);
    }

    /** The input ranges as the runtime reads them, by layer path. */
    public static Map<String, ActivationRanges.Range> ranges(QuantizationAwareTraining.State state) {
        Map<String, ActivationRanges.Range> m = new LinkedHashMap<>();
        state.inputQuantizers().forEach((path, q) -> m.put(path, q.used()));
        return m;
    }

    /** Writes the model folder (ranges and provenance in it); it appears whole, by one rename, replacing an older one. */
    public static void write(Checkpoint model, QuantizationAwareTraining.State state, String dtype, Map<String, Object> provenance, Path out)
            throws IOException {
        Path abs = out.toAbsolutePath(), tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        AtomicFiles.deleteTree(tmp);
        new CheckpointWriter(null).writeFolder(checkpoint(model, state, dtype), tmp);
        if (!state.inputQuantizers().isEmpty()) AtomicFiles.write(tmp.resolve("unet").resolve(ActivationRanges.FILE), ActivationRanges.json(ranges(state)));
        AtomicFiles.write(tmp.resolve("recipe.json"), Json.write(provenance).getBytes(StandardCharsets.UTF_8));
        if (Files.exists(abs)) {
            Path old = abs.resolveSibling(abs.getFileName() + ".old");
            AtomicFiles.deleteTree(old);
            Files.move(abs, old);
            Files.move(tmp, abs);
            AtomicFiles.deleteTree(old);
        } else {
            Files.move(tmp, abs);
        }
    }
}
