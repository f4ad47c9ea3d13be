#include "store/parallel_gzip.hpp"

#include "util/error.hpp"

#include <zlib.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace strata::store {
namespace {

constexpr std::size_t window = 32 * 1024;  // deflate's maximum match distance
constexpr std::size_t sample_size = 4 * 1024;
// A sample that deflate at its fastest cannot shrink by 2% is taken as incompressible.
constexpr double incompressible_ratio = 0.98;

struct Block {
    std::vector<unsigned char> input;       // capacity block_size, kept when the block is reused
    std::vector<unsigned char> dictionary;  // the previous block's last 32 KiB
    bool last = false;
    // Filled by compress(). The buffer outlives the block's trips through the pipeline:
    // allocating (and first touching) half a megabyte per block cost more than the copy.
    std::unique_ptr<unsigned char[]> output;
    std::size_t output_capacity = 0;
    std::size_t output_size = 0;
    uLong crc = 0;
    bool done = false;
    std::exception_ptr error;

    void reset() {
        input.clear();
        dictionary.clear();
        last = false;
        output_size = 0;
        crc = 0;
        done = false;
        error = nullptr;
    }
};

// One raw-deflate stream at a fixed level, reused block after block: deflateReset puts it
// in the same state as a new one, so the output does not depend on what it did before.
class Deflater {
public:
    explicit Deflater(int level) : level_(level) {
        // Raw deflate (windowBits -15): the gzip header and trailer are written around all blocks.
        if (deflateInit2(&z_, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw Error("deflateInit2 failed");
    }
    ~Deflater() { deflateEnd(&z_); }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    // Deflates all of `input` in one call, ended by `flush`, into `out` (grown to the bound);
    // returns the number of bytes written.
    std::size_t run(const unsigned char* input, std::size_t size, const std::vector<unsigned char>& dictionary, int flush,
                    std::unique_ptr<unsigned char[]>& out, std::size_t& capacity) {
        if (deflateReset(&z_) != Z_OK) throw Error("deflateReset failed");
        if (!dictionary.empty() && level_ != 0 &&
            deflateSetDictionary(&z_, dictionary.data(), static_cast<uInt>(dictionary.size())) != Z_OK)
            throw Error("deflateSetDictionary failed");
        const std::size_t bound = deflateBound(&z_, static_cast<uLong>(size)) + 64;
        if (capacity < bound) {
            out = std::make_unique_for_overwrite<unsigned char[]>(bound);
            capacity = bound;
        }
        z_.next_in = const_cast<unsigned char*>(input);
        z_.avail_in = static_cast<uInt>(size);
        z_.next_out = out.get();
        z_.avail_out = static_cast<uInt>(capacity);
        const int rc = deflate(&z_, flush);
        if (rc == Z_STREAM_ERROR || z_.avail_in != 0 || (flush == Z_FINISH && rc != Z_STREAM_END))
            throw Error("deflate failed");
        return capacity - z_.avail_out;
    }

private:
    int level_;
    z_stream z_{};
};

// What one thread needs to compress blocks: a deflater per level it may use and a scratch
// buffer for samples. Made once per thread, not once per block.
class Workspace {
public:
    explicit Workspace(int level) : level_(level), deflate_(level), store_(0), sample_(1) {}

    void compress(Block& block) noexcept {
        try {
            block.crc = crc32(0L, block.input.data(), static_cast<uInt>(block.input.size()));
            const bool store = level_ != 0 && block.input.size() >= 3 * sample_size && looks_incompressible(block.input);
            Deflater& deflater = store ? store_ : deflate_;
            // A sync flush ends each block on a byte boundary without ending the stream.
            block.output_size = deflater.run(block.input.data(), block.input.size(), block.dictionary,
                                             block.last ? Z_FINISH : Z_SYNC_FLUSH, block.output, block.output_capacity);
        } catch (...) {
            block.error = std::current_exception();
        }
    }

private:
    bool sample_compresses(const unsigned char* data) {
        const std::size_t out = sample_.run(data, sample_size, {}, Z_FINISH, sample_out_, sample_capacity_);
        return static_cast<double>(out) < incompressible_ratio * static_cast<double>(sample_size);
    }

    // Samples the start, the middle and the end: a block is stored only when none compresses.
    bool looks_incompressible(const std::vector<unsigned char>& input) {
        for (const std::size_t at : {std::size_t{0}, input.size() / 2 - sample_size / 2, input.size() - sample_size})
            if (sample_compresses(input.data() + at)) return false;
        return true;
    }

    int level_;
    Deflater deflate_;
    Deflater store_;
    Deflater sample_;  // deflate at its fastest
    std::unique_ptr<unsigned char[]> sample_out_;
    std::size_t sample_capacity_ = 0;
};

void put_le32(std::vector<unsigned char>& out, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(value >> (8 * i)));
}

} // namespace

class ParallelGzip::Impl {
public:
    Impl(Sink sink, int level, unsigned threads) : sink_(std::move(sink)) {
        if (level < 0 || level > 9) throw Error("gzip level " + std::to_string(level) + " is not 0-9");
        if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
        // Two blocks per thread in flight: workers stay busy while the writer drains in order.
        max_in_flight_ = 2 * threads;
        // mtime 0, no name; XFL and OS as zlib writes them.
        const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0,
                                          static_cast<unsigned char>(level == 9 ? 2 : level == 1 ? 4 : 0), 3};
        sink_(header, sizeof header);
        current_ = new_block();
        for (unsigned i = 0; i < threads; ++i) workspaces_.push_back(std::make_unique<Workspace>(level));
        // Last: nothing below may throw, or the threads would never be joined.
        if (threads > 1)
            for (auto& workspace : workspaces_) workers_.emplace_back([this, w = workspace.get()] { work(*w); });
    }

    ~Impl() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        for (auto& worker : workers_) worker.join();
    }

    void write(const unsigned char* data, std::size_t size) {
        while (size > 0) {
            const std::size_t take = std::min(size, block_size - current_->input.size());
            current_->input.insert(current_->input.end(), data, data + take);
            data += take;
            size -= take;
            if (current_->input.size() == block_size) dispatch_and_start_next();
        }
    }

    void finish() {
        current_->last = true;
        dispatch(std::move(current_));
        while (!in_flight_.empty()) emit_front();
        std::vector<unsigned char> trailer;
        put_le32(trailer, static_cast<std::uint32_t>(crc_));
        put_le32(trailer, static_cast<std::uint32_t>(total_));  // ISIZE: the length modulo 2^32
        sink_(trailer.data(), trailer.size());
    }

private:
    // A block from the pool of emitted ones, or a new one while the pipeline fills.
    std::unique_ptr<Block> new_block() {
        if (!free_.empty()) {
            auto block = std::move(free_.back());
            free_.pop_back();
            return block;
        }
        auto block = std::make_unique<Block>();
        block->input.reserve(block_size);
        return block;
    }

    void dispatch_and_start_next() {
        auto next = new_block();
        const auto& input = current_->input;
        next->dictionary.assign(input.end() - static_cast<std::ptrdiff_t>(std::min(window, input.size())), input.end());
        dispatch(std::move(current_));
        current_ = std::move(next);
        while (in_flight_.size() >= max_in_flight_) emit_front();
    }

    void dispatch(std::unique_ptr<Block> block) {
        Block* raw = block.get();
        {
            std::lock_guard lock(mutex_);
            in_flight_.push_back(std::move(block));
            if (!workers_.empty()) queued_.push_back(raw);
        }
        if (workers_.empty()) {
            workspaces_.front()->compress(*raw);
            raw->done = true;
        } else {
            changed_.notify_all();
        }
    }

    // Waits for the oldest block and passes its output on: the stream stays in input order.
    void emit_front() {
        std::unique_ptr<Block> block;
        {
            std::unique_lock lock(mutex_);
            changed_.wait(lock, [&] { return in_flight_.front()->done; });
            block = std::move(in_flight_.front());
            in_flight_.pop_front();
        }
        if (block->error) std::rethrow_exception(block->error);
        sink_(block->output.get(), block->output_size);
        crc_ = crc32_combine(crc_, block->crc, static_cast<z_off_t>(block->input.size()));
        total_ += block->input.size();
        block->reset();
        free_.push_back(std::move(block));
    }

    void work(Workspace& workspace) {
        for (;;) {
            Block* block = nullptr;
            {
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
                if (stopping_) return;  // abandoned (an error): the blocks die with in_flight_
                block = queued_.front();
                queued_.pop_front();
            }
            workspace.compress(*block);
            {
                std::lock_guard lock(mutex_);
                block->done = true;
            }
            changed_.notify_all();
        }
    }

    Sink sink_;
    std::size_t max_in_flight_ = 2;
    std::vector<std::unique_ptr<Workspace>> workspaces_;  // one per worker (one in all without workers)
    std::unique_ptr<Block> current_;
    std::vector<std::unique_ptr<Block>> free_;  // emitted blocks, kept for reuse (writer thread only)
    std::deque<std::unique_ptr<Block>> in_flight_;  // oldest first
    uLong crc_ = crc32(0L, Z_NULL, 0);
    std::uint64_t total_ = 0;

    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Block*> queued_;  // not yet picked up by a worker
    std::vector<std::thread> workers_;
    bool stopping_ = false;
};

ParallelGzip::ParallelGzip(Sink sink, int level, unsigned threads)
    : impl_(std::make_unique<Impl>(std::move(sink), level, threads)) {}
ParallelGzip::~ParallelGzip() = default;
void ParallelGzip::write(const void* data, std::size_t size) { impl_->write(static_cast<const unsigned char*>(data), size); }
void ParallelGzip::finish() { impl_->finish(); }

} // namespace strata::store
