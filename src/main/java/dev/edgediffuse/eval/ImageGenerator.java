package dev.edgediffuse.eval;

import dev.edgediffuse.tensor.FeatureMap;

import java.util.List;

/** Something that turns evaluation jobs into images: a text-to-image model, or a stand-in in tests. */
public interface ImageGenerator extends AutoCloseable {
    /**
     * One image per job, in order: channels-last in [-1, 1] (values outside are clamped by the evaluator), all of the
     * same size, any channel count (grey is taken as the channel mean).
     */
    List<FeatureMap> generate(List<EvalPlan.Job> jobs);

    /** A short name for reports. */
    String name();

    /**
     * The model's own autoencoder round trip (encode to latents, decode) of real images [n][h][w][3] in [-1, 1], or
     * null when it has none: what the decoder alone can deliver, the ceiling of the model's quality.
     */
    default FeatureMap reconstruct(FeatureMap images) {
        return null;
    }

    /** How many jobs one {@link #generate} call should get for best throughput. */
    default int preferredBatch() {
        return 1;
    }

    @Override
    default void close() {}
}
