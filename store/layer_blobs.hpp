#pragma once
// Layer blobs by (diff id, codec, level). Every layer the store writes or re-encodes is
// remembered in a small record (records/layer-blobs/<diff hex>-<codec>[-<level>].json), so
// that a layer wanted in another compression (a cached step in `build --compression
// zstd`, a re-export, a push) is compressed once and its blob reused from then on. A
// record keeps nothing alive: a blob pruned since is simply made again.
#include "store/store.hpp"

#include <optional>
#include <string_view>

namespace strata::store {

inline constexpr const char* layer_blobs_namespace = "layer-blobs";

// The blob holding diff_id's tar in `compression`, when one was remembered and the store
// still has it (present, of the recorded size).
std::optional<Descriptor> find_layer_blob(const Store& store, std::string_view diff_id, const LayerCompression& compression);

// Remembers that `blob` holds diff_id's tar in `compression` (and is annotated so, as
// write_layer annotates). Not fsynced: a lost record is a miss.
void remember_layer_blob(Store& store, std::string_view diff_id, const LayerCompression& compression, const Descriptor& blob);

struct LayerBlob {
    Descriptor descriptor;
    bool compressed = false;  // true only when this call ran the compressor
};

// `layer` (its blob in the store) as a blob in `compression`: the layer's own blob when it
// is already encoded so, else a remembered one, else a new blob made by decompressing the
// layer's blob and compressing it once (checked against the diff id), then remembered.
// The same tar and (codec, level) always give the same bytes (compress.hpp), so a blob
// made here equals one a build would have written directly.
LayerBlob layer_blob_as(Store& store, const Layer& layer, const LayerCompression& compression);

} // namespace strata::store
