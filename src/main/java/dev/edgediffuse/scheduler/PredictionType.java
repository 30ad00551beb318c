package dev.edgediffuse.scheduler;

/** What the denoising model predicts: the added noise, or the velocity v = √ᾱ·ε − √(1−ᾱ)·x₀. */
public enum PredictionType {
    EPSILON("epsilon"),
    V_PREDICTION("v_prediction");

    public final String configName;

    PredictionType(String configName) {
        this.configName = configName;
    }

    public static PredictionType parse(String source, String name) {
        for (PredictionType p : values()) if (p.configName.equals(name)) return p;
        throw new IllegalArgumentException(source + ": prediction_type \"" + name
                + "\" is not supported (use epsilon or v_prediction)");
    }
}
