#pragma once
// A byte sink whose consumer runs on a thread of its own. write() copies into one of a few
// reused buffers and returns while the consumer (a hash, a file write) works through the
// previous ones: two sequential stages of a stream then run on two cores. Memory is
// bounded by buffer_size x buffers, whatever the length of the stream.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace strata {

class AsyncSink {
public:
    using Consumer = std::function<void(const unsigned char* data, std::size_t size)>;

    // The consumer sees the bytes in order, in pieces of at most buffer_size.
    explicit AsyncSink(Consumer consumer, std::size_t buffer_size = std::size_t{1} << 20, std::size_t buffers = 4);
    // Without finish(): what is still queued is dropped, and the thread joined.
    ~AsyncSink();
    AsyncSink(const AsyncSink&) = delete;
    AsyncSink& operator=(const AsyncSink&) = delete;

    // Throws the consumer's exception, if it has thrown one; after that, nothing is consumed.
    void write(const void* data, std::size_t size);
    // Hands over the last bytes, waits until all are consumed; throws the consumer's exception.
    void finish();

private:
    using Buffer = std::vector<unsigned char>;

    void hand_over_current();
    void consume_loop();
    void rethrow_if_failed();

    Consumer consumer_;
    std::size_t buffer_size_;
    Buffer current_;  // being filled by write(); the producer's alone

    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Buffer> full_;   // handed over, oldest first
    std::vector<Buffer> free_;  // consumed, for reuse
    std::size_t in_flight_ = 0;  // handed over and not yet back in free_
    std::size_t max_in_flight_;
    bool closing_ = false;  // no more buffers will come
    std::exception_ptr error_;
    std::thread thread_;  // last: started once everything above exists
};

} // namespace strata
