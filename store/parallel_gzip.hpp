#pragma once
// gzip on every core, as pigz does: the input is cut into fixed-size blocks, each deflated
// on its own thread with the previous block's last 32 KiB as its dictionary and ended with
// a sync flush, so the concatenation is one valid deflate stream in one gzip member. The
// block size is fixed, never derived from the thread count: the output is byte-identical
// whatever the number of threads. A block whose samples do not compress is stored
// instead of deflated (a decision made from its bytes alone), which makes incompressible
// data (media, archives, encrypted files) cost little more than a copy.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace strata::store {

class ParallelGzip {
public:
    // Receives the compressed stream in order, on the thread that calls write()/finish().
    using Sink = std::function<void(const unsigned char* data, std::size_t size)>;
    static constexpr std::size_t block_size = 512 * 1024;

    // threads: 0 = one per CPU; 1 compresses on the calling thread.
    explicit ParallelGzip(Sink sink, int level = 6, unsigned threads = 0);
    ~ParallelGzip();
    ParallelGzip(const ParallelGzip&) = delete;
    ParallelGzip& operator=(const ParallelGzip&) = delete;

    void write(const void* data, std::size_t size);
    // Compresses what is buffered as the last block and writes the gzip trailer.
    void finish();

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace strata::store
