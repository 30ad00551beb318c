package dev.edgediffuse.eval;

import dev.edgediffuse.format.AtomicFiles;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.tensor.FeatureMap;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A reference model's images kept in a folder, so that comparing many variants against one reference generates
 * the reference once ({@code eval --reference-cache DIR}): one .npy per job (index, seed and prompt in its name's
 * hash), and a key file naming the model and sampling settings — a cache made under other settings is refused.
 */
public final class CachedGenerator implements ImageGenerator {
    private final ImageGenerator inner;
    private final Path dir;

    public CachedGenerator(ImageGenerator inner, Path dir, String key) {
        this.inner = inner;
        this.dir = dir;
        try {
            Files.createDirectories(dir);
            Path keyFile = dir.resolve("key.txt");
            if (Files.isRegularFile(keyFile)) {
                String old = Files.readString(keyFile);
                if (!old.equals(key)) throw new IllegalArgumentException(dir + " caches another reference or settings (" + old.strip() + ")");
            } else {
                AtomicFiles.write(keyFile, key.getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Path file(EvalPlan.Job j) {
        return dir.resolve(String.format("%06d-%d-%08x.npy", j.index(), j.seed(), j.prompt().hashCode()));
    }

    @Override
    public List<FeatureMap> generate(List<EvalPlan.Job> jobs) {
        List<EvalPlan.Job> missing = new ArrayList<>();
        for (EvalPlan.Job j : jobs) if (!Files.isRegularFile(file(j))) missing.add(j);
        if (!missing.isEmpty()) {
            List<FeatureMap> made = inner.generate(missing);
            for (int i = 0; i < missing.size(); i++) {
                FeatureMap m = made.get(i);
                try {
                    Path f = file(missing.get(i)), tmp = f.resolveSibling(f.getFileName() + ".tmp");
                    Npy.write(tmp, m.data(), m.height(), m.width(), m.channels());
                    Files.move(tmp, f, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        List<FeatureMap> out = new ArrayList<>(jobs.size());
        for (EvalPlan.Job j : jobs) {
            Npy.Array a = Npy.read(file(j));
            out.add(new FeatureMap(a.data(), 1, a.shape()[0], a.shape()[1], a.shape()[2]));
        }
        return out;
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public FeatureMap reconstruct(FeatureMap images) {
        return inner.reconstruct(images);
    }

    @Override
    public int preferredBatch() {
        return inner.preferredBatch();
    }

    @Override
    public void close() {
        inner.close();
    }
}
