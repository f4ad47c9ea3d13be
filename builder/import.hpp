#pragma once
// Filesystem exchange with other tools, as `docker import` and `docker export` do it: a
// rootfs tar becomes a one-layer image, and an image's flattened filesystem becomes one
// tar. Both here, beside each other, because each is the other's inverse: the tar that
// export writes is what import reads, and an import of an export exports byte for byte
// alike (one tar writer, store/tree_tar.hpp, makes layers and exports).
#include "builder/image_state.hpp"
#include "store/store.hpp"
#include "store/tree_tar.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace strata::builder {

struct ImportOptions {
    std::string source;                // as the user named it ("-" for stdin): the history says "Imported from <source>"
    std::vector<std::string> changes;  // --change: Dockerfile instructions docker import allows
    std::string message;               // -m: the history comment instead of "Imported from ..."
    long long created_seconds = 0;     // the config's `created` (SOURCE_DATE_EPOCH or now)
    store::LayerCompression compression = {};  // the layer blob's codec and level
};

// Applies `--change` instructions to the config, as docker import does: each one a single
// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR line,
// parsed by the Buildfile parser and applied with the builder's own metadata rules (ENV
// values see the Env before them). Anything else throws, naming the change. No history
// entry is added for them (docker adds none).
void apply_changes(ImageState& state, const std::vector<std::string>& changes);

// Reads a rootfs tar (plain, gzip, bzip2, xz or zstd: detected from its bytes) from
// `archive` (a file, or /dev/stdin) into a new snapshot through ADD's hostile-entry checks
// (absolute names, `..`, paths through symlinks, hard links outside the archive, device
// nodes, `.wh.` names and truncated archives are refused, naming the entry), writes the
// layer from the snapshot with the store's deterministic tar writer and stores a one-layer
// image with the --change edits. Nothing is stored when it throws. Returns the manifest.
store::Descriptor import_image(store::Store& store, const std::filesystem::path& archive, const ImportOptions& options);

// Streams the image's merged filesystem into `sink` as one deterministic tar (the layer
// writer's rules: sorted, numeric owners, mtimes only), with every deletion applied: no
// deleted file and no `.wh.` entry. Unpacks missing snapshots and mounts a read-only
// overlay of them, so the caller must have entered a private mount namespace
// (sandbox::enter_private_mount_namespace) and hold the store for use.
void export_image(store::Store& store, const store::Image& image, const store::TarSink& sink);

} // namespace strata::builder
