package dev.edgediffuse.workflow;

import dev.edgediffuse.checkpoint.Checkpoint;
import dev.edgediffuse.checkpoint.CheckpointWriter;
import dev.edgediffuse.lora.Adapters;
import dev.edgediffuse.lora.LoraFile;
import dev.edgediffuse.lora.LoraMerge;
import dev.edgediffuse.tokenizer.ClipTokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** lora-merge: a LoRA file ({@code lora}) merged into the float weights at {@code weight} (and {@code text_weight}). */
final class LoraMergeStage implements Stage {
    private final Path lora;
    private final float unetWeight, textWeight;

    LoraMergeStage(StageSpec s) {
        lora = s.file("lora", true);
        unetWeight = s.number("weight", 1.0, -10, 10).floatValue();
        textWeight = s.number("text_weight", (double) unetWeight, -10, 10).floatValue();
    }

    @Override
    public String kind() {
        return "lora-merge";
    }

    @Override
    public Effect effect() {
        return Effect.WEIGHTS;
    }

    @Override
    public Map<String, String> fileDigests() {
        return Map.of("lora", Digests.file(lora));
    }

    @Override
    public void run(StageContext ctx) throws IOException {
        try (Checkpoint in = Checkpoint.open(ctx.input(), null)) {
            ClipTokenizer tokenizer = in.tokenizerDir == null ? ClipTokenizer.builtIn() : ClipTokenizer.load(in.tokenizerDir);
            Adapters adapters = Adapters.bind(in, List.of(new Adapters.Use(LoraFile.read(lora), textWeight, unetWeight)), tokenizer);
            new CheckpointWriter(ctx.log()).writeFolder(LoraMerge.apply(in, adapters), ctx.modelOut());
        }
    }
}
