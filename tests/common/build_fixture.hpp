#pragma once
// Builds through the builder library with an executor the test provides (unit tests never
// start a sandbox): a store and a context directory in a scratch directory, and the
// progress of the last build.
#include "builder/builder.hpp"
#include "store/store.hpp"
#include "tests/common/shell.hpp"

#include <filesystem>
#include <sstream>
#include <string>

namespace strata::test {

template <typename ExecutorType>
struct BuildFixture {
    ScratchDir dir;
    store::Store store{dir.path() / "root"};
    std::filesystem::path context = dir.path() / "context";
    ExecutorType executor;
    std::ostringstream progress;
    builder::BuildOptions options;  // what every build uses; tests change it between builds

    BuildFixture() {
        std::filesystem::create_directories(context);
        options.context_dir = context;
        options.tags = {"t"};
    }

    // Builds `buildfile` with `options`; `progress` then holds this build's progress only.
    builder::BuildResult build_with_options(const std::string& buildfile) {
        options.buildfile_text = buildfile;
        progress.str("");
        return builder::build(store, executor, options, progress);
    }

    store::Image image(const builder::BuildResult& r) { return store.load_image(r.manifest); }
    nlohmann::json config(const builder::BuildResult& r) { return image(r).config; }
    // The snapshot of the image's topmost layer: what the last file-writing step wrote.
    std::filesystem::path top_layer(const builder::BuildResult& r) { return store.ensure_snapshots(image(r)).back(); }
    std::size_t cached() const { return count_occurrences(progress.str(), "CACHED"); }
};

} // namespace strata::test
