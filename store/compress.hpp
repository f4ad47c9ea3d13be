#pragma once
// How a layer's tar becomes its blob: gzip (the default), zstd or no compression; the OCI
// media type of each, and the annotation that records which encoder made a blob.
//
// A blob must depend on the tar's bytes and the (codec, level) pair alone: never on the
// number of cores, nor on how the tar reaches the compressor in pieces. gzip is deflated
// in fixed blocks on every core (parallel_gzip.hpp). zstd always runs in libzstd's
// multi-threaded mode with at least one worker: checked here (libzstd 1.5.4), its frames
// are byte-identical for 1, 2, 4 or 8 workers and any write sizes, but differ from the
// single-threaded mode (nbWorkers = 0) once the input passes one job (a few MiB at
// level 3), so a one-core machine uses one worker, not zero. Nothing else is left to a
// default that could move: the level, the checksum flag, no pledged size.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace strata::store {

// The layer annotation naming the encoder and level ("zstd;level=3"), so that a blob can
// be made again from its tar (reproducibility checks) and a reader knows what it holds.
inline constexpr const char* compression_annotation = "io.strata.layer.compression";

struct LayerCompression {
    enum class Codec { gzip, zstd, none };
    Codec codec = Codec::gzip;
    std::optional<int> level;  // none: the codec's default (gzip 6, zstd 3)

    int effective_level() const;  // 0 for none
    const char* media_type() const;
    // "gzip;level=6", "zstd;level=3" or "uncompressed": equal descriptions write equal
    // blobs. The layer annotation's value, and part of a build step's cache key.
    std::string describe() const;
    bool operator==(const LayerCompression& other) const { return describe() == other.describe(); }
};

// `strata build --compression NAME [--compression-level N]`: NAME is gzip, zstd or
// uncompressed; the level must be in the codec's range (gzip 0-9, zstd 1-19; none for
// uncompressed). Throws an Error saying what is accepted.
LayerCompression parse_layer_compression(std::string_view name, std::optional<int> level = std::nullopt);

// A streaming compressor: write() the input in any pieces, then finish() once. The
// compressed bytes go to the sink in order, on the calling thread.
class Compressor {
public:
    using Sink = std::function<void(const void* data, std::size_t size)>;
    virtual ~Compressor() = default;
    virtual void write(const void* data, std::size_t size) = 0;
    virtual void finish() = 0;
};

// threads: 0 = one per core. The output does not depend on it.
std::unique_ptr<Compressor> make_compressor(const LayerCompression& compression, Compressor::Sink sink,
                                            unsigned threads = 0);

} // namespace strata::store
