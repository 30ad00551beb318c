package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.lora.LoraLibrary;
import dev.edgediffuse.lora.LoraMode;
import dev.edgediffuse.lora.LoraSpec;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** LoRAs for the commands that run a model: files for every image, a folder prompts may name, and how they apply. */
final class LoraOptions {
    @Option(names = "--lora", paramLabel = "FILE[:WEIGHT]", description = "apply this LoRA (kohya or diffusers/PEFT .safetensors, "
            + "or a built-in one: mini-lcm-lora) with this multiplier (default 1); repeatable")
    private List<String> loras = List.of();

    @Option(names = "--lora-dir", paramLabel = "DIR", description = "folder of LoRAs that prompts name as <lora:NAME:WEIGHT> (AUTOMATIC1111's syntax)")
    private Path dir;

    @Option(names = "--lora-mode", paramLabel = "MODE", description = "auto: merge into float weights, a run-time branch on "
            + "quantized ones; merge; runtime: branches everywhere (default: auto; serve: runtime)")
    private String mode;

    /** The settings, {@code fallback} the mode when none is given. */
    LoraLibrary.Settings settings(LoraMode fallback) {
        List<LoraSpec> specs = new ArrayList<>();
        for (String s : loras) {
            LoraSpec spec = LoraSpec.parse(s);
            specs.add(new LoraSpec(BuiltInModel.resolveLora(spec.file(), null), spec.text(), spec.unet()));
        }
        LoraMode m;
        try {
            m = mode == null ? fallback : LoraMode.parse(mode);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        return new LoraLibrary.Settings(specs, dir, m);
    }
}
