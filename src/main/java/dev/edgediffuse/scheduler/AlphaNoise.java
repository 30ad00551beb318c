package dev.edgediffuse.scheduler;

/** Forward diffusion x_t = √ᾱ·x₀ + √(1−ᾱ)·ε for the ᾱ-parameterised schedulers (DDIM, LCM). */
final class AlphaNoise {
    private AlphaNoise() {}

    static float[] add(float alphaCumprod, float[] x0, float[] noise) {
        float sa = (float) Math.sqrt(alphaCumprod), sb = (float) Math.sqrt(1f - alphaCumprod);
        float[] out = new float[x0.length];
        for (int i = 0; i < out.length; i++) out[i] = sa * x0[i] + sb * noise[i];
        return out;
    }
}
