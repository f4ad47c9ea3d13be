// Layer codecs behind one streaming interface: gzip on every core (ParallelGzip), zstd in
// its multi-threaded mode, or the tar as it is. See compress.hpp for why each output
// depends on the input and the level alone.
#include "store/compress.hpp"

#include "store/oci.hpp"
#include "store/parallel_gzip.hpp"
#include "util/error.hpp"

#include <zstd.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace strata::store {

namespace {

constexpr int gzip_default_level = 6;
constexpr int zstd_default_level = 3;  // zstd's own default (ZSTD_CLEVEL_DEFAULT)
// zstd's regular levels; 20-22 ("ultra", windows of up to 128 MiB per worker) are left out.
constexpr int zstd_max_level = 19;

unsigned cores_or(unsigned threads) { return threads ? threads : std::max(1u, std::thread::hardware_concurrency()); }

class PlainCompressor final : public Compressor {
public:
    explicit PlainCompressor(Sink sink) : sink_(std::move(sink)) {}
    void write(const void* data, std::size_t size) override { sink_(data, size); }
    void finish() override {}

private:
    Sink sink_;
};

class GzipCompressor final : public Compressor {
public:
    GzipCompressor(Sink sink, int level, unsigned threads)
        : gzip_([sink = std::move(sink)](const unsigned char* data, std::size_t size) { sink(data, size); }, level,
                cores_or(threads)) {}
    void write(const void* data, std::size_t size) override { gzip_.write(data, size); }
    void finish() override { gzip_.finish(); }

private:
    ParallelGzip gzip_;
};

struct CCtxFree {
    void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};

class ZstdCompressor final : public Compressor {
public:
    ZstdCompressor(Sink sink, int level, unsigned threads)
        : sink_(std::move(sink)), cctx_(ZSTD_createCCtx()), out_(ZSTD_CStreamOutSize()) {
        if (!cctx_) throw Error("ZSTD_createCCtx failed");
        set(ZSTD_c_compressionLevel, level, "compression level");
        set(ZSTD_c_checksumFlag, 1, "checksum flag");
        // Never 0 workers: the multi-threaded format is the one that does not depend on the count.
        set(ZSTD_c_nbWorkers, static_cast<int>(cores_or(threads)), "worker count (is libzstd built without threads?)");
    }

    void write(const void* data, std::size_t size) override {
        ZSTD_inBuffer in{data, size, 0};
        while (in.pos < in.size) step(in, ZSTD_e_continue);
    }

    void finish() override {
        ZSTD_inBuffer in{nullptr, 0, 0};
        while (step(in, ZSTD_e_end) != 0) {
        }
    }

private:
    void set(ZSTD_cParameter param, int value, const char* what) {
        const std::size_t rc = ZSTD_CCtx_setParameter(cctx_.get(), param, value);
        if (ZSTD_isError(rc)) throw Error(std::string("zstd: cannot set the ") + what + ": " + ZSTD_getErrorName(rc));
    }

    // One call into libzstd; returns what it says is left to flush.
    std::size_t step(ZSTD_inBuffer& in, ZSTD_EndDirective mode) {
        ZSTD_outBuffer out{out_.data(), out_.size(), 0};
        const std::size_t rc = ZSTD_compressStream2(cctx_.get(), &out, &in, mode);
        if (ZSTD_isError(rc)) throw Error(std::string("zstd compression failed: ") + ZSTD_getErrorName(rc));
        if (out.pos > 0) sink_(out_.data(), out.pos);
        return rc;
    }

    Sink sink_;
    std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx_;
    std::vector<char> out_;
};

int parse_level_for(LayerCompression::Codec codec, int level) {
    switch (codec) {
    case LayerCompression::Codec::gzip:
        if (level < 0 || level > 9) throw Error("gzip compression level " + std::to_string(level) + " is not in 0-9");
        break;
    case LayerCompression::Codec::zstd:
        if (level < 1 || level > zstd_max_level)
            throw Error("zstd compression level " + std::to_string(level) + " is not in 1-" + std::to_string(zstd_max_level));
        break;
    case LayerCompression::Codec::none: throw Error("an uncompressed layer has no compression level");
    }
    return level;
}

} // namespace

int LayerCompression::effective_level() const {
    switch (codec) {
    case Codec::gzip: return level.value_or(gzip_default_level);
    case Codec::zstd: return level.value_or(zstd_default_level);
    case Codec::none: return 0;
    }
    return 0;
}

const char* LayerCompression::media_type() const {
    switch (codec) {
    case Codec::gzip: return media::layer_gzip;
    case Codec::zstd: return media::layer_zstd;
    case Codec::none: return media::layer_tar;
    }
    return media::layer_tar;
}

std::string LayerCompression::describe() const {
    switch (codec) {
    case Codec::gzip: return "gzip;level=" + std::to_string(effective_level());
    case Codec::zstd: return "zstd;level=" + std::to_string(effective_level());
    case Codec::none: return "uncompressed";
    }
    return "uncompressed";
}

LayerCompression parse_layer_compression(std::string_view name, std::optional<int> level) {
    LayerCompression out;
    if (name == "gzip") out.codec = LayerCompression::Codec::gzip;
    else if (name == "zstd") out.codec = LayerCompression::Codec::zstd;
    else if (name == "uncompressed") out.codec = LayerCompression::Codec::none;
    else throw Error("unknown layer compression '" + std::string(name) + "': expected gzip, zstd or uncompressed");
    if (level) out.level = parse_level_for(out.codec, *level);
    return out;
}

std::unique_ptr<Compressor> make_compressor(const LayerCompression& compression, Compressor::Sink sink, unsigned threads) {
    const int level = compression.level ? parse_level_for(compression.codec, *compression.level) : compression.effective_level();
    switch (compression.codec) {
    case LayerCompression::Codec::gzip: return std::make_unique<GzipCompressor>(std::move(sink), level, threads);
    case LayerCompression::Codec::zstd: return std::make_unique<ZstdCompressor>(std::move(sink), level, threads);
    case LayerCompression::Codec::none: break;
    }
    return std::make_unique<PlainCompressor>(std::move(sink));
}

} // namespace strata::store
